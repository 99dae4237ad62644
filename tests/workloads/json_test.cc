// The small JSON reader behind the conformance runner.
#include "workloads/json.h"

#include <gtest/gtest.h>

namespace pagesim::json {
namespace {

TEST(Json, ParsesValuesAndKeepsPositions) {
  auto r = parse("{\"a\": [1, -2, 3.5e2, true, null], \"b\": {\"c\": \"x\\ny\\u00e9\"}}\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Value& v = r.value();
  ASSERT_TRUE(v.is_object());
  const Value* a = v.find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->items().size(), 5u);
  EXPECT_EQ(a->items()[0].as_u64(), 1u);
  EXPECT_FALSE(a->items()[1].as_u64().has_value());  // negative
  EXPECT_EQ(a->items()[2].text(), "3.5e2");
  EXPECT_FALSE(a->items()[2].as_u64().has_value());  // not an integer
  EXPECT_TRUE(a->items()[3].as_bool());
  EXPECT_TRUE(a->items()[4].is_null());
  EXPECT_EQ(a->items()[1].pos().column, 11u);
  EXPECT_EQ(v.find("b")->find("c")->text(), "x\ny\xc3\xa9");
  EXPECT_EQ(v.find("missing"), nullptr);
  EXPECT_EQ(v.type_name(), "an object");
}

TEST(Json, SixtyFourBitIntegersAreExact) {
  auto r = parse("[18446744073709551615, 18446744073709551616, 9007199254740993]");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().items()[0].as_u64(), ~u64{0});
  EXPECT_FALSE(r.value().items()[1].as_u64().has_value());      // overflow
  EXPECT_EQ(r.value().items()[2].as_u64(), 9007199254740993u);  // not rounded through a double
}

TEST(Json, ErrorsNameLineColumnAndWhatWasExpected) {
  struct Case {
    const char* text;
    u32 line;
    u32 column;
    const char* message;
  };
  const Case cases[] = {
      {"{\"a\": 1,}", 1, 9, "expected a member name in double quotes, found '}'"},
      {"{\"a\" 1}", 1, 6, "expected ':' after a member name"},
      {"[1 2]", 1, 4, "expected ',' or ']' after an array element"},
      {"{\n  \"a\": tru\n}", 2, 8, "expected a JSON value"},
      {"\"abc", 1, 5, "expected a closing '\"' for the string, found the end of the input"},
      {"[01]", 1, 3, "expected ',' or ']'"},
      {"1 2", 1, 3, "expected the end of the JSON document"},
      {"\"\\x\"", 1, 3, "expected one of"},
      {"-", 1, 2, "expected a digit"},
      {"", 1, 1, "expected a JSON value"},
  };
  for (const Case& c : cases) {
    auto r = parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().pos.line, c.line) << c.text;
    EXPECT_EQ(r.error().pos.column, c.column) << c.text;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << r.error().message;
  }
  // A JSON-lines file passes each line's position.
  auto r = parse("{\"x\": ]", Pos{7, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().pos.line, 7u);
  EXPECT_EQ(r.error().pos.column, 7u);
}

TEST(Json, DeepNestingIsAnErrorNotACrash) {
  const std::string deep(100000, '[');
  auto r = parse(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("256 levels"), std::string::npos);
  std::string ok_depth = std::string(200, '[') + std::string(200, ']');
  EXPECT_TRUE(parse(ok_depth).ok());
}

}  // namespace
}  // namespace pagesim::json
