// JSON object grammar and JSON schema lowering, matched byte by byte.
#include <nlohmann/json.hpp>

#include "common.h"
#include "structured/json_number.h"

namespace ignis::test {
namespace {

bool sm(const std::string& schema, const std::string& text, bool strict = false) {
  return full_match(st::compile_grammar(schema_spec(schema, strict)), text);
}

TEST(StructuredJson, AnyObject) {
  st::Grammar g = st::compile_grammar(spec(st::ConstraintSpec::Kind::JsonObject, ""));
  for (const char* ok : {"{}", R"({"a":1})", R"({ "a" : [1, 2.5e-3, {"b": null}], "c": "x\"\u00e9\ud83d\ude00" })",
                         "{\n  \"k\": true,\n  \"l\": false\n}", R"({"e":-0.0})"})
    EXPECT_TRUE(full_match(g, ok)) << ok;
  for (const char* bad : {"[]", "1", R"({"a":01})", R"({"a":1,})", R"({"a" 1})", "{} ", " {}", R"({"a":"\x"})",
                          "{\"a\":\"\x01\"}", R"({"a":"\ud800"})", R"({"a":"\udc00x"})", "{'a':1}",
                          "{       }"})  // more than the whitespace bound
    EXPECT_FALSE(full_match(g, bad)) << bad;
}

TEST(StructuredJson, IntegerRangesAreExact) {
  struct R {
    std::optional<int64_t> lo, hi;
  };
  for (R r : {R{0, 0}, R{-5, 5}, R{7, 1234}, R{-1234, -7}, R{-99, 99}, R{100, 100}, R{{}, 42}, R{-42, {}}, R{{}, -3},
              R{13, {}}, R{{}, {}}, R{0, 999}, R{1, 10}}) {
    st::RuleSet rs;
    rs.add("root", st::integer_range(r.lo, r.hi));
    st::Grammar g = st::lower(rs, "test");
    for (int64_t v = -1500; v <= 1500; ++v) {
      bool in = (!r.lo || v >= *r.lo) && (!r.hi || v <= *r.hi);
      ASSERT_EQ(full_match(g, std::to_string(v)), in) << v << " in [" << (r.lo ? std::to_string(*r.lo) : "-inf") << ", "
                                                      << (r.hi ? std::to_string(*r.hi) : "inf") << "]";
    }
    EXPECT_FALSE(full_match(g, "007"));
    EXPECT_FALSE(full_match(g, "-0"));
    if (!r.hi) {
      EXPECT_TRUE(full_match(g, "123456789012345"));
    }
  }
}

TEST(StructuredJson, NumberRanges) {
  std::string s = R"({"type":"number","minimum":-2,"exclusiveMaximum":3})";
  for (const char* ok : {"-2", "-2.0", "-1.5", "0", "0.25", "2.999", "-0.5", "1"}) EXPECT_TRUE(sm(s, ok)) << ok;
  for (const char* bad : {"3", "3.0", "3.5", "-2.5", "-3", "1e2", "-0", "01"}) EXPECT_FALSE(sm(s, bad)) << bad;
  std::string t = R"({"type":"number","exclusiveMinimum":0})";
  EXPECT_TRUE(sm(t, "0.001"));
  EXPECT_TRUE(sm(t, "12345.5"));
  EXPECT_FALSE(sm(t, "0"));
  EXPECT_FALSE(sm(t, "-1"));
  EXPECT_TRUE(sm(R"({"type":"integer","minimum":1.5,"maximum":3})", "2"));
  EXPECT_FALSE(sm(R"({"type":"integer","minimum":1.5,"maximum":3})", "1"));
  EXPECT_TRUE(sm(R"({"type":"integer","exclusiveMinimum":true,"minimum":4})", "5"));
  EXPECT_FALSE(sm(R"({"type":"integer","exclusiveMinimum":true,"minimum":4})", "4"));
}

TEST(StructuredJson, ObjectsFollowSchemaOrderAndRequired) {
  std::string s = R"({"type":"object","properties":{"b":{"type":"integer"},"a":{"type":"string"},"c":{"type":"boolean"}},
                      "required":["a"],"additionalProperties":false})";
  EXPECT_TRUE(sm(s, R"({"b":1,"a":"x","c":true})"));
  EXPECT_TRUE(sm(s, R"({"a":"x"})"));
  EXPECT_TRUE(sm(s, R"({"a":"x", "c":false})"));
  EXPECT_FALSE(sm(s, R"({"b":1})"));               // a is required
  EXPECT_FALSE(sm(s, R"({"a":"x","b":1})"));       // schema order
  EXPECT_FALSE(sm(s, R"({"a":"x","d":1})"));       // no additional properties
  EXPECT_FALSE(sm(s, R"({"a":"x",})"));
}

TEST(StructuredJson, AdditionalPropertiesAndStrict) {
  std::string s = R"({"type":"object","properties":{"name":{"type":"string"}}})";
  EXPECT_TRUE(sm(s, R"({"name":"x","age":3})"));       // JSON Schema default: allowed
  EXPECT_FALSE(sm(s, R"({"name":"x","age":3})", true));  // strict: not allowed
  EXPECT_FALSE(sm(s, R"({"name":"x","name":3})"));     // an extra key never repeats a named one
  EXPECT_TRUE(sm(s, R"({"name":"x","nam":3,"names":4})"));
  std::string t = R"({"type":"object","additionalProperties":{"type":"integer"}})";
  EXPECT_TRUE(sm(t, R"({"x":1,"y":2})", true));
  EXPECT_FALSE(sm(t, R"({"x":"s"})", true));
}

TEST(StructuredJson, ArraysStringsEnumsRefs) {
  EXPECT_TRUE(sm(R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3})", "[1, 2]"));
  EXPECT_FALSE(sm(R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3})", "[1]"));
  EXPECT_FALSE(sm(R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3})", "[1,2,3,4]"));
  std::string tuple = R"({"type":"array","prefixItems":[{"type":"string"},{"type":"null"}],"items":false})";
  EXPECT_TRUE(sm(tuple, R"(["a",null])"));
  EXPECT_TRUE(sm(tuple, R"(["a"])"));
  EXPECT_FALSE(sm(tuple, R"(["a",null,1])"));
  std::string draft4 = R"({"type":"array","items":[{"type":"integer"},{"type":"boolean"}]})";  // then any items
  EXPECT_TRUE(sm(draft4, R"([1,true,"x",{}])"));
  EXPECT_FALSE(sm(draft4, R"([true])"));
  EXPECT_TRUE(sm(R"({"type":"string","minLength":2,"maxLength":3})", R"("a\n")"));  // an escape is one character
  EXPECT_FALSE(sm(R"({"type":"string","minLength":2,"maxLength":3})", R"("abcd")"));
  EXPECT_TRUE(sm(R"({"type":"string","pattern":"^[a-z]+\"$"})", R"("ab\"")"));
  EXPECT_TRUE(sm(R"({"type":"string","pattern":"b"})", R"("abc")"));  // search semantics
  EXPECT_FALSE(sm(R"({"type":"string","pattern":"^b"})", R"("abc")"));
  EXPECT_TRUE(sm(R"({"enum":["a",1,null,{"k":[true]}]})", R"({"k":[true]})"));
  EXPECT_FALSE(sm(R"({"enum":["a",1,null]})", "2"));
  EXPECT_TRUE(sm(R"({"const":"x\"y"})", R"("x\"y")"));
  EXPECT_TRUE(sm(R"({"type":["string","null"]})", "null"));
  EXPECT_TRUE(sm(R"({"anyOf":[{"type":"integer"},{"type":"boolean"}]})", "true"));
  EXPECT_TRUE(sm(R"({"format":"date-time"})", R"("2024-02-29T13:05:00.123+02:00")"));
  EXPECT_FALSE(sm(R"({"type":"string","format":"date"})", R"("2024-13-01")"));
  EXPECT_TRUE(sm(R"({"type":"string","format":"uuid"})", R"("123e4567-e89b-12d3-a456-426614174000")"));
  EXPECT_TRUE(sm(R"({"type":"string","format":"email"})", R"("a.b@example.com")"));
  std::string tree = R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
      "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"],"additionalProperties":false}},
      "$ref":"#/$defs/node"})";
  EXPECT_TRUE(sm(tree, R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4,"kids":[]}]}]})"));
  EXPECT_FALSE(sm(tree, R"({"v":1,"kids":[{"w":2}]})"));
  EXPECT_TRUE(sm(R"({"definitions":{"a":{"type":"integer"}},"allOf":[{"$ref":"#/definitions/a"}]})", "12"));
}

TEST(StructuredJson, LargeEnumsAreFactored) {
  nlohmann::json values = nlohmann::json::array();
  for (int i = 0; i < 500; ++i) values.push_back("item-" + std::to_string(i * 7));
  values.push_back("item");
  values.push_back("item-0");  // a duplicate
  values.push_back(12);
  std::string s = nlohmann::json{{"enum", values}}.dump();
  for (const char* ok : {R"("item-0")", R"("item-7")", R"("item-3493")", R"("item")", "12"}) EXPECT_TRUE(sm(s, ok)) << ok;
  for (const char* bad : {R"("item-1")", R"("item-")", R"("item-34930")", "1", R"("")"}) EXPECT_FALSE(sm(s, bad)) << bad;
  // One stack per state however many values share a prefix.
  st::Grammar g = st::compile_grammar(schema_spec(s));
  st::Pda pda(g);
  std::vector<st::Node> pool;
  st::PdaState state = pda.initial(pool), next;
  for (unsigned char b : std::string("\"item-1")) {
    pda.advance(pool, state, b, next);
    std::swap(state, next);
    EXPECT_LE(state.tops.size(), 2u);
  }
}

TEST(StructuredJson, UnsupportedKeywordsAreNamed) {
  auto err = [](const std::string& s) { return compile_error(schema_spec(s)); };
  EXPECT_EQ(err(R"({"type":"object","patternProperties":{}})"), "json_schema: unsupported keyword 'patternProperties'");
  EXPECT_EQ(err(R"({"type":"array","items":{"type":"integer","multipleOf":3}})"), "json_schema: unsupported keyword 'multipleOf'");
  EXPECT_EQ(err(R"({"type":"array","uniqueItems":true})"), "json_schema: unsupported keyword 'uniqueItems'");
  EXPECT_EQ(err(R"({"type":"string","format":"hostname-idn"})"), "json_schema: unsupported format 'hostname-idn'");
  EXPECT_NE(err(R"({"allOf":[{"type":"integer"},{"minimum":1}]})").find("allOf is supported with a single schema only"), std::string::npos);
  EXPECT_NE(err(R"({"$ref":"#/$defs/missing"})").find("does not resolve"), std::string::npos);
  EXPECT_NE(err(R"({"$ref":"http://x/y.json"})").find("only local"), std::string::npos);
  EXPECT_NE(err(R"({"type":"strin"})").find("unknown type 'strin'"), std::string::npos);
  EXPECT_NE(err(R"({"type":"string","pattern":"(a)\\1"})").find("backreferences are not supported"), std::string::npos);
  EXPECT_NE(err("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(err(R"({"type":"integer","minimum":5,"maximum":4})").find("no integer satisfies"), std::string::npos);
  EXPECT_EQ(err(R"({"type":"integer","description":"d","title":"t","default":1,"examples":[1]})"), "");
}

}  // namespace
}  // namespace ignis::test
