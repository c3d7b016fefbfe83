// Unit tests of the server's pure parts: HTTP request parsing and limits, API-key
// comparison, JSON depth guard, typed field readers and Prometheus histograms.
#include <gtest/gtest.h>

#include "server/api.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/server.h"

using namespace ignis::server;

namespace {
ParseResult parse(const std::string& s, HttpRequest* r, size_t max_body = 1024) {
  HttpLimits l;
  l.max_body_bytes = max_body;
  l.max_header_bytes = 256;
  return parse_http_request(s, l, r);
}
}  // namespace

TEST(HttpParse, ContentLengthBodyAndKeepAlive) {
  HttpRequest r;
  std::string s = "POST /v1/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Up: V\r\n\r\nhelloGET";
  auto p = parse(s, &r);
  ASSERT_EQ(p.status, ParseResult::Status::Done);
  EXPECT_EQ(p.consumed, s.size() - 3);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/v1/completions");
  EXPECT_EQ(r.query, "x=1");
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.header("x-up"), "V");
  EXPECT_TRUE(r.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", &r).status, ParseResult::Status::Done);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &r).status, ParseResult::Status::Done);
  EXPECT_FALSE(r.keep_alive);
}

TEST(HttpParse, IncompleteUntilBodyArrives) {
  HttpRequest r;
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel", &r).status, ParseResult::Status::Incomplete);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n", &r).status, ParseResult::Status::Incomplete);
}

TEST(HttpParse, ChunkedBody) {
  HttpRequest r;
  std::string s = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  auto p = parse(s, &r);
  ASSERT_EQ(p.status, ParseResult::Status::Done);
  EXPECT_EQ(r.body, "abcde");
  EXPECT_EQ(p.consumed, s.size());
  EXPECT_EQ(parse(s.substr(0, s.size() - 2), &r).status, ParseResult::Status::Incomplete);
}

TEST(HttpParse, ErrorsAndLimits) {
  HttpRequest r;
  auto status = [&](const std::string& s) {
    auto p = parse(s, &r);
    return p.status == ParseResult::Status::Error ? p.http_status : 0;
  };
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n"), 413);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n"), 413);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: " + std::string(300, 'a') + "\r\n\r\n"), 431);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: " + std::string(300, 'a')), 431);  // header never ends
  EXPECT_EQ(status("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(status("GET /\r\n\r\n"), 400);
  EXPECT_EQ(status("GET nopath HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"), 400);
}

TEST(ApiKey, MatchesAnyKeyExactly) {
  std::vector<std::string> keys = {"alpha", "beta-key"};
  EXPECT_TRUE(api_key_matches("alpha", keys));
  EXPECT_TRUE(api_key_matches("beta-key", keys));
  EXPECT_FALSE(api_key_matches("alph", keys));
  EXPECT_FALSE(api_key_matches("alphaa", keys));
  EXPECT_FALSE(api_key_matches("", keys));
  EXPECT_FALSE(api_key_matches("beta-kez", keys));
  EXPECT_FALSE(api_key_matches("alpha", {}));
}

TEST(JsonDepth, CountsOutsideStrings) {
  EXPECT_EQ(json_nesting_depth(R"({"a": [1, {"b": "[[[["}]})", 100), 3);
  EXPECT_EQ(json_nesting_depth(R"("\"[[[")", 100), 0);
  EXPECT_GT(json_nesting_depth(std::string(1000, '['), 10), 10);
}

TEST(FieldReaders, TypesAndRanges) {
  json j = {{"t", 0.5}, {"i", 3}, {"f", 2.0}, {"s", "x"}, {"b", true}, {"list", {"a", "", "b"}}, {"n", nullptr}};
  EXPECT_DOUBLE_EQ(*get_number(j, "t", 0, 1), 0.5);
  EXPECT_EQ(*get_int(j, "i", 0, 10), 3);
  EXPECT_EQ(*get_int(j, "f", 0, 10), 2);  // integral float accepted
  EXPECT_FALSE(get_int(j, "n", 0, 10).has_value());
  EXPECT_FALSE(get_int(j, "absent", 0, 10).has_value());
  EXPECT_EQ(get_string_list(j, "list", true, 5), (std::vector<std::string>{"a", "b"}));
  auto status_of = [](auto fn) {
    try {
      fn();
    } catch (const ApiError& e) {
      return e.status;
    }
    return 0;
  };
  EXPECT_EQ(status_of([&] { get_number(j, "s", 0, 1); }), 400);
  EXPECT_EQ(status_of([&] { get_int(j, "i", 5, 10); }), 400);
  EXPECT_EQ(status_of([&] { get_int(j, "t", 0, 10); }), 400);
  EXPECT_EQ(status_of([&] { get_bool(j, "i"); }), 400);
  EXPECT_EQ(status_of([&] { get_string_list(j, "list", false, 5); }), 400);
  EXPECT_EQ(status_of([&] { get_string_list(j, "list", true, 1); }), 400);
  ignis::SamplingParams p;
  EXPECT_EQ(status_of([&] { read_sampling_fields(json{{"top_p", 0}}, &p); }), 400);
  read_sampling_fields(json{{"temperature", 0}, {"top_k", -1}, {"seed", -1}}, &p);
  EXPECT_EQ(p.temperature, 0.0f);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_EQ(*p.seed, ~uint64_t{0});
}

TEST(ErrorBody, OpenAIShape) {
  ApiError e{404, "no such model", "", "model", "model_not_found"};
  json j = json::parse(openai_error_body(e));
  EXPECT_EQ(j["error"]["message"], "no such model");
  EXPECT_EQ(j["error"]["type"], "not_found_error");
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_EQ(j["error"]["code"], "model_not_found");
  EXPECT_NO_THROW(dump(json("\xff bad utf8")));
}

TEST(Histogram, CumulativeBuckets) {
  Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(0.5);
  h.observe(5);
  std::string out;
  h.render("x_seconds", "help", &out);
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"1\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_sum 6.05\n"), std::string::npos) << out;
}
