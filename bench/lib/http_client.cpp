// ignis bench: the libcurl HTTP client and SSE parsing (see http_client.h).
#include "bench/lib/http_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>

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

namespace {

using SteadyClock = std::chrono::steady_clock;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    IGNIS_CHECK(rc == CURLE_OK, "http: libcurl initialisation failed: {}", curl_easy_strerror(rc));
  });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What the callbacks fill while one transfer runs.
struct Transfer {
  HttpResponse* r = nullptr;
  const std::function<void(std::string_view)>* on_body = nullptr;
  SteadyClock::time_point last_byte;
  double timeout_s = 0;
  bool timed_out = false;
  std::string callback_error;  // an exception from on_body, rethrown after the transfer
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->last_byte = SteadyClock::now();
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    t->r->headers.clear();  // a new status line (after 100 Continue): only the final head counts
    return size * n;
  }
  const size_t c = line.find(':');
  if (c != std::string_view::npos) {
    std::string v(line.substr(c + 1));
    v.erase(0, v.find_first_not_of(" \t"));
    t->r->headers[lower(std::string(line.substr(0, c)))] = v;
  }
  return size * n;
}

size_t on_data(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->last_byte = SteadyClock::now();
  std::string_view bytes(data, size * n);
  if (t->on_body && *t->on_body) {
    try {
      (*t->on_body)(bytes);
    } catch (const std::exception& e) {
      t->callback_error = e.what();
      return CURL_WRITEFUNC_ERROR;
    }
  } else {
    t->r->body.append(bytes);
  }
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (std::chrono::duration<double>(SteadyClock::now() - t->last_byte).count() > t->timeout_s) {
    t->timed_out = true;
    return 1;  // aborts the transfer
  }
  return 0;
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

HttpResponse http_request(const Url& url, const std::string& method, const std::string& path, const std::string& body,
                          const std::function<void(std::string_view)>& on_body, double timeout_s,
                          const std::vector<std::string>& headers) {
  global_init();
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  IGNIS_CHECK(curl != nullptr, "http: curl_easy_init failed");
  CURL* c = curl.get();
  const std::string target = "http://" + (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) +
                             ":" + std::to_string(url.port) + url.base_path + path;
  HttpResponse r;
  Transfer t;
  t.r = &r;
  t.on_body = &on_body;
  t.timeout_s = timeout_s;
  t.last_byte = SteadyClock::now();
  char errbuf[CURL_ERROR_SIZE] = "";

  std::unique_ptr<curl_slist, SlistDeleter> list;
  auto add_header = [&](const std::string& h) {
    curl_slist* next = curl_slist_append(list.get(), h.c_str());
    IGNIS_CHECK(next != nullptr, "http: out of memory for request headers");
    (void)list.release();
    list.reset(next);
  };
  add_header("Accept: */*");
  add_header("Expect:");  // no 100-continue round trip for large bodies
  const bool send_body = !body.empty() || method == "POST";
  if (send_body) add_header("Content-Type: application/json");
  for (const std::string& h : headers) add_header(h);

  curl_easy_setopt(c, CURLOPT_URL, target.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // many transfers run on their own threads
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max(1.0, timeout_s * 1000)));
  if (method == "GET" && !send_body) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    if (method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);

  const CURLcode rc = curl_easy_perform(c);
  if (!t.callback_error.empty()) throw Error(t.callback_error);
  const std::string where = url.host + ":" + std::to_string(url.port);
  IGNIS_CHECK(!t.timed_out, "http: {} sent nothing for {} s (timed out)", where, timeout_s);
  if (rc != CURLE_OK) {
    const std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_OPERATION_TIMEDOUT)
      throw Error(fmt::format("http: cannot connect to {}: {}", where, detail));
    throw Error(fmt::format("http: {} {}{} on {} failed: {}", method, url.base_path, path, where, detail));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  r.status = static_cast<int>(status);
  return r;
}

}  // namespace ignis::bench
