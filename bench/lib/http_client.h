// ignis bench: a small HTTP/1.1 client over POSIX sockets (plain http only) for the serve
// load generator: one connection per request (Connection: close), Content-Length, chunked
// or read-to-close bodies, and an incremental Server-Sent-Events parser.
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

// Decodes Transfer-Encoding: chunked incrementally.
class ChunkedDecoder {
 public:
  // Appends the decoded bytes of `in` to *out; throws Error on malformed framing.
  void feed(std::string_view in, std::string* out);
  bool done() const { return done_; }

 private:
  std::string buf_;
  size_t remaining_ = 0;  // bytes left in the current chunk
  enum class St { Size, Data, DataCrlf, Trailer } st_ = St::Size;
  bool done_ = false;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // filled only when on_body is not given
};

// POSTs `body` (JSON) to url.base_path + path. on_body (optional) receives decoded body bytes as
// they arrive. Throws Error on connect / IO failure or timeout (seconds without any byte).
HttpResponse http_request(const Url& url, const std::string& method, const std::string& path, const std::string& body,
                          const std::function<void(std::string_view)>& on_body = {}, double timeout_s = 600);

}  // namespace ignis::bench
