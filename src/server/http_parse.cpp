// ignis server: HTTP/1.x request parsing (request line, headers, Content-Length and
// chunked bodies) with header and body size limits. Pure; no sockets here.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "server/http.h"

namespace ignis::server {

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool is_token_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u <= 32 || u >= 127) return false;
  return std::string_view("()<>@,;:\\\"/[]?={}").find(c) == std::string_view::npos;
}

ParseResult error(int status, std::string msg) {
  ParseResult r;
  r.status = ParseResult::Status::Error;
  r.http_status = status;
  r.message = std::move(msg);
  return r;
}

bool contains_token(std::string_view list, std::string_view token) {  // comma-separated, lower-case
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string_view::npos) end = list.size();
    if (trim(list.substr(pos, end - pos)) == token) return true;
    pos = end + 1;
  }
  return false;
}

// Parses a chunked body starting at buf[pos]; appends to *body.
ParseResult parse_chunked(std::string_view buf, size_t pos, const HttpLimits& limits, std::string* body) {
  body->clear();
  for (;;) {
    size_t eol = buf.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      if (buf.size() - pos > 1024) return error(400, "chunk size line too long");
      return ParseResult{};
    }
    std::string_view line = buf.substr(pos, eol - pos);
    if (size_t semi = line.find(';'); semi != std::string_view::npos) line = line.substr(0, semi);
    line = trim(line);
    uint64_t size = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
    if (line.empty() || ec != std::errc() || p != line.data() + line.size())
      return error(400, "invalid chunk size in chunked request body");
    pos = eol + 2;
    if (size == 0) {
      // Trailers until an empty line.
      for (;;) {
        size_t e = buf.find("\r\n", pos);
        if (e == std::string_view::npos) return ParseResult{};
        bool empty = e == pos;
        pos = e + 2;
        if (empty) {
          ParseResult r;
          r.status = ParseResult::Status::Done;
          r.consumed = pos;
          return r;
        }
      }
    }
    if (size > limits.max_body_bytes || body->size() + size > limits.max_body_bytes)
      return error(413, "request body exceeds the limit of " + std::to_string(limits.max_body_bytes) + " bytes");
    if (buf.size() - pos < size + 2) return ParseResult{};
    if (buf.substr(pos + size, 2) != "\r\n") return error(400, "chunk data not followed by CRLF");
    body->append(buf.substr(pos, size));
    pos += size + 2;
  }
}

}  // namespace

std::string HttpRequest::header(std::string_view lower_name) const {
  for (auto& [k, v] : headers)
    if (k == lower_name) return v;
  return "";
}

ParseResult parse_http_request(std::string_view buf, const HttpLimits& limits, HttpRequest* out) {
  // Tolerate empty lines before the request line (RFC 9112 2.2).
  size_t start = 0;
  while (start + 1 < buf.size() && buf[start] == '\r' && buf[start + 1] == '\n') start += 2;
  size_t head_end = buf.find("\r\n\r\n", start);
  if (head_end == std::string_view::npos) {
    if (buf.size() - start > limits.max_header_bytes)
      return error(431, "request header exceeds " + std::to_string(limits.max_header_bytes) + " bytes");
    return ParseResult{};
  }
  if (head_end - start > limits.max_header_bytes)
    return error(431, "request header exceeds " + std::to_string(limits.max_header_bytes) + " bytes");
  std::string_view head = buf.substr(start, head_end - start);

  // Request line.
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return error(400, "malformed request line");
  HttpRequest req;
  req.method = std::string(line.substr(0, sp1));
  req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  req.version = std::string(line.substr(sp2 + 1));
  if (req.method.empty() || !std::all_of(req.method.begin(), req.method.end(), is_token_char))
    return error(400, "malformed request method");
  if (req.target.empty() || (req.target[0] != '/' && req.target != "*"))
    return error(400, "malformed request target");
  for (char c : req.target)
    if (static_cast<unsigned char>(c) <= 32 || c == 127) return error(400, "malformed request target");
  if (req.version != "HTTP/1.1" && req.version != "HTTP/1.0") {
    if (req.version.rfind("HTTP/", 0) == 0) return error(505, "HTTP version not supported: " + req.version);
    return error(400, "malformed request line");
  }
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);

  // Headers.
  size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    std::string_view h = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return error(400, "malformed header line");
    std::string_view name = h.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) return error(400, "malformed header name");
    req.headers.emplace_back(lower(name), std::string(trim(h.substr(colon + 1))));
  }
  req.headers.shrink_to_fit();

  std::string conn = lower(req.header("connection"));
  if (req.version == "HTTP/1.1") req.keep_alive = !contains_token(conn, "close");
  else req.keep_alive = contains_token(conn, "keep-alive");

  size_t body_start = head_end + 4;
  std::string te = lower(req.header("transfer-encoding"));
  std::string cl;
  int cl_count = 0;
  for (auto& [k, v] : req.headers)
    if (k == "content-length") {
      if (cl_count++ && v != cl) return error(400, "conflicting Content-Length headers");
      cl = v;
    }
  ParseResult r;
  if (!te.empty()) {
    if (cl_count) return error(400, "both Transfer-Encoding and Content-Length given");
    if (te != "chunked") return error(501, "unsupported Transfer-Encoding: " + te);
    r = parse_chunked(buf, body_start, limits, &req.body);
    if (r.status != ParseResult::Status::Done) return r;
  } else {
    uint64_t len = 0;
    if (cl_count) {
      auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), len);
      if (cl.empty() || ec != std::errc() || p != cl.data() + cl.size()) return error(400, "invalid Content-Length");
    }
    if (len > limits.max_body_bytes)
      return error(413, "request body of " + std::to_string(len) + " bytes exceeds the limit of " +
                            std::to_string(limits.max_body_bytes) + " bytes");
    if (buf.size() - body_start < len) return ParseResult{};
    req.body = std::string(buf.substr(body_start, len));
    r.status = ParseResult::Status::Done;
    r.consumed = body_start + len;
  }
  *out = std::move(req);
  return r;
}

const char* http_status_text(int s) {
  switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace ignis::server
