// ignis bench: HTTP/1.1 client and SSE parsing (see http_client.h).
#include "bench/lib/http_client.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace ignis::bench {

Url parse_url(const std::string& url) {
  const std::string scheme = "http://";
  IGNIS_CHECK(url.rfind(scheme, 0) == 0, "--url '{}': only http://host[:port][/path] is supported", url);
  std::string rest = url.substr(scheme.size());
  Url u;
  const size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) u.base_path = rest.substr(slash);
  while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  const size_t colon = hostport.rfind(':');
  if (colon != std::string::npos) {
    const std::string p = hostport.substr(colon + 1);
    IGNIS_CHECK(!p.empty() && p.size() <= 5 && std::all_of(p.begin(), p.end(), ::isdigit), "--url '{}': bad port", url);
    u.port = std::stoi(p);
    IGNIS_CHECK(u.port > 0 && u.port < 65536, "--url '{}': port out of range", url);
    hostport = hostport.substr(0, colon);
  }
  IGNIS_CHECK(!hostport.empty(), "--url '{}': no host", url);
  u.host = hostport;
  return u;
}

std::vector<std::string> SseParser::feed(std::string_view bytes) {
  std::vector<std::string> events;
  buf_.append(bytes);
  size_t start = 0;
  for (;;) {
    const size_t nl = buf_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(buf_.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = nl + 1;
    if (line.empty()) {  // blank line: dispatch
      if (has_data_) events.push_back(data_);
      data_.clear();
      has_data_ = false;
      continue;
    }
    if (line[0] == ':') continue;  // comment
    const size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (has_data_) data_ += '\n';
      data_.append(value);
      has_data_ = true;
    }
  }
  buf_.erase(0, start);
  return events;
}

void ChunkedDecoder::feed(std::string_view in, std::string* out) {
  buf_.append(in);
  size_t pos = 0;
  while (!done_) {
    if (st_ == St::DataCrlf) {
      if (buf_.size() - pos < 2) break;
      IGNIS_CHECK(buf_.compare(pos, 2, "\r\n") == 0, "http: malformed chunked body (missing CRLF after chunk data)");
      pos += 2;
      st_ = St::Size;
    } else if (st_ == St::Size || st_ == St::Trailer) {
      const size_t nl = buf_.find("\r\n", pos);
      if (nl == std::string::npos) break;
      std::string line = buf_.substr(pos, nl - pos);
      pos = nl + 2;
      if (st_ == St::Trailer) {
        if (line.empty()) done_ = true;
      } else {
        const size_t semi = line.find(';');
        if (semi != std::string::npos) line.resize(semi);
        IGNIS_CHECK(!line.empty() && line.size() <= 15 && std::all_of(line.begin(), line.end(), ::isxdigit),
                    "http: malformed chunk size '{}'", line);
        remaining_ = std::stoul(line, nullptr, 16);
        st_ = remaining_ == 0 ? St::Trailer : St::Data;
      }
    } else {  // Data
      const size_t take = std::min(remaining_, buf_.size() - pos);
      if (take == 0) break;
      out->append(buf_, pos, take);
      pos += take;
      remaining_ -= take;
      if (remaining_ == 0) st_ = St::DataCrlf;
    }
  }
  buf_.erase(0, pos);
}

namespace {
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int connect_to(const Url& u, double timeout_s) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(u.host.c_str(), std::to_string(u.port).c_str(), &hints, &res);
  IGNIS_CHECK(rc == 0, "http: cannot resolve {}: {}", u.host, gai_strerror(rc));
  int fd = -1;
  int err = 0;
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_s);
    tv.tv_usec = static_cast<suseconds_t>((timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    err = errno;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  IGNIS_CHECK(fd >= 0, "http: cannot connect to {}:{}: {}", u.host, u.port, std::strerror(err));
  return fd;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

HttpResponse http_request(const Url& url, const std::string& method, const std::string& path, const std::string& body,
                          const std::function<void(std::string_view)>& on_body, double timeout_s) {
  Fd s;
  s.fd = connect_to(url, timeout_s);
  std::string req = method + " " + url.base_path + path + " HTTP/1.1\r\nHost: " + url.host + ":" +
                    std::to_string(url.port) + "\r\nConnection: close\r\nAccept: */*\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    const ssize_t n = ::send(s.fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    IGNIS_CHECK(n > 0, "http: send to {}:{} failed: {}", url.host, url.port, std::strerror(errno));
    off += static_cast<size_t>(n);
  }

  HttpResponse r;
  std::string buf;
  bool head_done = false, chunked = false;
  long long content_length = -1, received = 0;
  ChunkedDecoder dec;
  auto deliver = [&](std::string_view bytes) {
    if (bytes.empty()) return;
    if (on_body) on_body(bytes);
    else r.body.append(bytes);
  };
  char tmp[16384];
  for (;;) {
    const ssize_t n = ::recv(s.fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    IGNIS_CHECK(n >= 0, "http: receive from {}:{} failed: {}", url.host, url.port,
                errno == EAGAIN ? "timed out" : std::strerror(errno));
    if (n == 0) break;  // peer closed
    std::string_view in(tmp, static_cast<size_t>(n));
    if (!head_done) {
      buf.append(in);
      const size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) {
        IGNIS_CHECK(buf.size() < (1 << 20), "http: response head larger than 1 MiB");
        continue;
      }
      head_done = true;
      const std::string head = buf.substr(0, end);
      const size_t sp = head.find(' ');
      IGNIS_CHECK(head.rfind("HTTP/1.", 0) == 0 && sp != std::string::npos && head.size() >= sp + 4,
                  "http: malformed status line from {}:{}", url.host, url.port);
      r.status = std::atoi(head.c_str() + sp + 1);
      size_t pos = head.find("\r\n");
      while (pos != std::string::npos && pos < head.size()) {
        const size_t next = head.find("\r\n", pos + 2);
        const std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
        const size_t c = line.find(':');
        if (c != std::string::npos) {
          std::string v = line.substr(c + 1);
          v.erase(0, v.find_first_not_of(" \t"));
          r.headers[lower(line.substr(0, c))] = v;
        }
        pos = next;
      }
      chunked = lower(r.headers["transfer-encoding"]).find("chunked") != std::string::npos;
      if (!chunked && r.headers.count("content-length")) content_length = std::atoll(r.headers["content-length"].c_str());
      in = std::string_view(buf).substr(end + 4);
    }
    if (chunked) {
      std::string out;
      dec.feed(in, &out);
      deliver(out);
      if (dec.done()) break;
    } else {
      received += static_cast<long long>(in.size());
      deliver(in);
      if (content_length >= 0 && received >= content_length) break;
    }
  }
  IGNIS_CHECK(head_done, "http: {}:{} closed the connection without a response", url.host, url.port);
  IGNIS_CHECK(!chunked || dec.done(), "http: {}:{} closed the connection mid-body", url.host, url.port);
  return r;
}

}  // namespace ignis::bench
