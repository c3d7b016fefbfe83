// ignis bench: the serve load generator's HTTP client (libcurl, plain http only: one easy
// handle and one connection per request, bodies handed over as they arrive) and an incremental
// Server-Sent-Events parser.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ignis::bench {

struct Url {
  std::string host;
  int port = 80;
  std::string base_path;  // "" or "/prefix" (no trailing slash)
};
// "http://host[:port][/prefix]"; throws Error for other schemes or a malformed URL.
Url parse_url(const std::string& url);

// Feed raw body bytes; returns the data payloads of the events completed by them
// (multi-line data joined with '\n'; comments and other fields ignored).
class SseParser {
 public:
  std::vector<std::string> feed(std::string_view bytes);

 private:
  std::string buf_, data_;
  bool has_data_ = false;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // filled only when on_body is not given
};

// Sends `method` to url.base_path + path with `body` (JSON; sent when non-empty or for POST) and
// the extra `headers` ("Name: value"). on_body (optional) receives decoded body bytes as they
// arrive. Throws Error on connect / IO failure or timeout (timeout_s seconds without any byte).
HttpResponse http_request(const Url& url, const std::string& method, const std::string& path, const std::string& body,
                          const std::function<void(std::string_view)>& on_body = {}, double timeout_s = 600,
                          const std::vector<std::string>& headers = {});

}  // namespace ignis::bench
