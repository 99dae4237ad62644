#include "workloads/json.h"

#include <fmt/format.h>

#include <charconv>

namespace pagesim::json {

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& [k, v] : members_) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::optional<u64> Value::as_u64() const {
  if (type_ != Type::kNumber || text_.empty() || text_[0] == '-') return std::nullopt;
  u64 v = 0;
  auto [end, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), v);
  if (ec != std::errc{} || end != text_.data() + text_.size()) return std::nullopt;
  return v;
}

std::string_view Value::type_name() const {
  switch (type_) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "a boolean";
    case Type::kNumber:
      return "a number";
    case Type::kString:
      return "a string";
    case Type::kArray:
      return "an array";
    case Type::kObject:
      return "an object";
  }
  return "?";
}

class Parser {
 public:
  Parser(std::string_view text, Pos start) : s_(text), pos_(start) {}

  Result<Value, ParseError> document() {
    skip_ws();
    Value v;
    PAGESIM_TRY(value(v, 0));
    skip_ws();
    if (i_ < s_.size()) return fail("expected the end of the JSON document");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 256;

  Err<ParseError> fail(std::string_view what) const {
    std::string found;
    if (i_ >= s_.size()) {
      found = "the end of the input";
    } else {
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      found =
          (c >= 0x20 && c < 0x7f) ? fmt::format("'{}'", s_[i_]) : fmt::format("byte {:#04x}", c);
    }
    return Err{ParseError{pos_, fmt::format("{}, found {}", what, found)}};
  }

  void advance() {
    if (s_[i_] == '\n') {
      ++pos_.line;
      pos_.column = 1;
    } else {
      ++pos_.column;
    }
    ++i_;
  }

  void skip_ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      advance();
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    for (std::size_t k = 0; k < word.size(); ++k) advance();
    return true;
  }

  Result<void, ParseError> value(Value& v, int depth) {
    if (depth > kMaxDepth) return fail("JSON nested more than 256 levels deep");
    v.pos_ = pos_;
    if (i_ >= s_.size()) return fail("expected a JSON value");
    const char c = s_[i_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v.type_ = Value::Type::kString;
      return string(v.text_);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number(v);
    if (literal("true")) {
      v.type_ = Value::Type::kBool;
      v.bool_ = true;
      return {};
    }
    if (literal("false")) {
      v.type_ = Value::Type::kBool;
      v.bool_ = false;
      return {};
    }
    if (literal("null")) {
      v.type_ = Value::Type::kNull;
      return {};
    }
    return fail("expected a JSON value (object, array, string, number, true, false or null)");
  }

  Result<void, ParseError> object(Value& v, int depth) {
    v.type_ = Value::Type::kObject;
    advance();  // '{'
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      advance();
      return {};
    }
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') return fail("expected a member name in double quotes");
      std::string key;
      PAGESIM_TRY(string(key));
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':') return fail("expected ':' after a member name");
      advance();
      skip_ws();
      Value member;
      PAGESIM_TRY(value(member, depth + 1));
      v.members_.emplace_back(std::move(key), std::move(member));
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        advance();
        continue;
      }
      if (i_ < s_.size() && s_[i_] == '}') {
        advance();
        return {};
      }
      return fail("expected ',' or '}' after an object member");
    }
  }

  Result<void, ParseError> array(Value& v, int depth) {
    v.type_ = Value::Type::kArray;
    advance();  // '['
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      advance();
      return {};
    }
    for (;;) {
      skip_ws();
      Value item;
      PAGESIM_TRY(value(item, depth + 1));
      v.items_.push_back(std::move(item));
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        advance();
        continue;
      }
      if (i_ < s_.size() && s_[i_] == ']') {
        advance();
        return {};
      }
      return fail("expected ',' or ']' after an array element");
    }
  }

  static void put_utf8(std::string& out, u32 cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  Result<u32, ParseError> hex4() {
    u32 cp = 0;
    for (int k = 0; k < 4; ++k) {
      if (i_ >= s_.size()) return fail("expected 4 hex digits after \\u");
      const char h = s_[i_];
      u32 d = 0;
      if (h >= '0' && h <= '9') {
        d = static_cast<u32>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        d = static_cast<u32>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        d = static_cast<u32>(h - 'A' + 10);
      } else {
        return fail("expected 4 hex digits after \\u");
      }
      cp = cp * 16 + d;
      advance();
    }
    return cp;
  }

  Result<void, ParseError> string(std::string& out) {
    advance();  // opening quote
    for (;;) {
      if (i_ >= s_.size()) return fail("expected a closing '\"' for the string");
      const char c = s_[i_];
      if (c == '"') {
        advance();
        return {};
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return fail("expected a string character (control characters must be escaped)");
      }
      if (c != '\\') {
        out += c;
        advance();
        continue;
      }
      advance();
      if (i_ >= s_.size()) return fail("expected an escape character after '\\'");
      const char e = s_[i_];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          advance();
          u32 cp = PAGESIM_TRY(hex4());
          if (cp >= 0xd800 && cp <= 0xdbff && s_.substr(i_, 2) == "\\u") {
            advance();
            advance();
            const u32 low = PAGESIM_TRY(hex4());
            if (low >= 0xdc00 && low <= 0xdfff) {
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            } else {
              put_utf8(out, cp);
              cp = low;
            }
          }
          put_utf8(out, cp);
          continue;
        }
        default:
          return fail("expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u after '\\'");
      }
      advance();
    }
  }

  Result<void, ParseError> number(Value& v) {
    v.type_ = Value::Type::kNumber;
    const std::size_t start = i_;
    if (s_[i_] == '-') advance();
    if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') return fail("expected a digit");
    if (s_[i_] == '0') {
      advance();
    } else {
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') advance();
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      advance();
      if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') {
        return fail("expected a digit after the decimal point");
      }
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') advance();
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      advance();
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) advance();
      if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') {
        return fail("expected a digit in the exponent");
      }
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') advance();
    }
    v.text_ = std::string(s_.substr(start, i_ - start));
    return {};
  }

  std::string_view s_;
  std::size_t i_ = 0;
  Pos pos_;
};

Result<Value, ParseError> parse(std::string_view text, Pos start) {
  return Parser(text, start).document();
}

}  // namespace pagesim::json
