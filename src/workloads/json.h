// A small JSON reader (RFC 8259) for pagesim's input files: conformance vectors and recordings.
//
// Self-written on purpose (no JSON dependency): it keeps every value's line and column so that
// an error in a user's file names the place, and numbers keep their text so 64-bit integers are
// read exactly. It parses whole documents into a tree; the files it reads are small (a line of a
// JSON-lines file, or a vectors file of a few hundred KiB).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/result.h"
#include "sim/types.h"

namespace pagesim::json {

struct Pos {
  u32 line = 1;
  u32 column = 1;
};

struct ParseError {
  Pos pos;
  std::string message;  // "expected ',' or '}' after an object member, found 'x'"
};

class Value {
 public:
  enum class Type : u8 { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type() const { return type_; }
  Pos pos() const { return pos_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  bool as_bool() const { return bool_; }
  // The string's content, or a number's literal text.
  const std::string& text() const { return text_; }
  const std::vector<Value>& items() const { return items_; }
  const std::vector<std::pair<std::string, Value>>& members() const { return members_; }

  // The member named `key` of an object (the first one if repeated), or nullptr.
  const Value* find(std::string_view key) const;

  // A number that is a non-negative integer fitting 64 bits, exactly.
  std::optional<u64> as_u64() const;

  // "null", "a boolean", "a number", "a string", "an array", "an object".
  std::string_view type_name() const;

 private:
  friend class Parser;
  Type type_ = Type::kNull;
  Pos pos_;
  bool bool_ = false;
  std::string text_;
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> members_;
};

// Parses one JSON document. `start` is the position of text[0] in its file (a JSON-lines file
// passes each line's number). Nesting deeper than 256 levels is an error (no recursion blow-up
// on hostile input).
Result<Value, ParseError> parse(std::string_view text, Pos start = {});

}  // namespace pagesim::json
