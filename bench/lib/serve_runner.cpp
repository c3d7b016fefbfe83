// ignis bench: the serve-mode load generator (one thread per in-flight request).
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/lib/http_client.h"
#include "bench/lib/progress.h"
#include "bench/lib/runners.h"
#include "core/error.h"
#include "sampling/sampler.h"

namespace ignis::bench {

std::vector<double> poisson_arrivals(int n, double rate, uint64_t seed) {
  IGNIS_CHECK(rate > 0, "--request-rate must be > 0 (got {})", rate);
  std::vector<double> t(n, 0.0);
  if (std::isinf(rate)) return t;
  RequestRng rng(seed);
  double now = 0;
  for (int i = 0; i < n; i++) {
    t[i] = now;
    now += -std::log(1.0 - rng.uniform()) / rate;
  }
  return t;
}

namespace {
using SteadyClock = std::chrono::steady_clock;

std::vector<std::string> auth_headers(const ServeOptions& o) {
  if (o.api_key.empty()) return {};
  return {"Authorization: Bearer " + o.api_key};
}

void one_request(const Url& url, const WorkItem& w, const ServeOptions& o, SteadyClock::time_point t0,
                 RequestRecord* rec) {
  auto since = [&] { return std::chrono::duration<double>(SteadyClock::now() - t0).count(); };
  nlohmann::json body = {{"max_tokens", w.output_len},
                         {"stream", true},
                         {"stream_options", {{"include_usage", true}}},
                         {"temperature", o.temperature},
                         {"ignore_eos", o.ignore_eos}};
  if (!o.model.empty()) body["model"] = o.model;
  if (o.send_text || w.prompt_ids.empty()) body["prompt"] = w.prompt;  // run_serve checked it is there
  else body["prompt"] = w.prompt_ids;
  rec->prompt_tokens = static_cast<int>(w.prompt_ids.size());
  rec->arrival = since();
  int events = 0, usage_completion = -1, usage_prompt = -1;
  std::string err_body;
  SseParser sse;
  try {
    HttpResponse r = http_request(
        url, "POST", "/v1/completions", body.dump(),
        [&](std::string_view bytes) {
          if (err_body.size() < 2000) err_body.append(bytes.substr(0, 2000 - err_body.size()));
          for (const std::string& ev : sse.feed(bytes)) {
            if (ev == "[DONE]") continue;
            nlohmann::json j = nlohmann::json::parse(ev, nullptr, false);
            if (j.is_discarded() || !j.is_object()) continue;
            if (j.contains("usage") && j["usage"].is_object()) {
              usage_completion = j["usage"].value("completion_tokens", -1);
              usage_prompt = j["usage"].value("prompt_tokens", -1);
            }
            if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
              const auto& c = j["choices"][0];
              if (c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty()) {
                const double t = since();
                if (events == 0) rec->first_token = t;
                rec->token_times.push_back(t);
                events++;
              }
            }
          }
        },
        o.timeout_s, auth_headers(o));
    rec->finish = since();
    if (r.status != 200) {
      rec->ok = false;
      std::string hint;
      if (r.status == 401)
        hint = o.api_key.empty() ? " (the server requires an API key: pass --api-key KEY or set IGNIS_API_KEY)"
                                 : " (the server rejected the API key given by --api-key / IGNIS_API_KEY)";
      rec->error = fmt::format("HTTP {}{}: {}", r.status, hint, err_body.substr(0, 300));
      return;
    }
  } catch (const Error& e) {
    rec->finish = since();
    rec->ok = false;
    rec->error = e.what();
    return;
  }
  rec->output_tokens = usage_completion >= 0 ? usage_completion : events;
  if (usage_prompt >= 0) rec->prompt_tokens = usage_prompt;
  if (events == 0 && rec->output_tokens > 0) {  // text never arrived (e.g. all bytes held back): end = first token
    rec->first_token = rec->finish;
    rec->token_times.push_back(rec->finish);
  }
}
}  // namespace

std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> m;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t close = line.rfind('}');
    const size_t sp = line.find(' ', close == std::string::npos ? 0 : close);
    if (sp == std::string::npos) continue;
    char* end = nullptr;
    const std::string v = line.substr(sp + 1);
    const double x = std::strtod(v.c_str(), &end);
    if (end == v.c_str()) continue;
    m[line.substr(0, sp)] = x;
  }
  return m;
}

namespace {
std::optional<double> first_of(const std::map<std::string, double>& m, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (auto it = m.find(n); it != m.end()) return it->second;
  return std::nullopt;
}

// Polls /metrics until stopped; fills obs. Stops polling at the first failure.
class MetricsPoller {
 public:
  MetricsPoller(const Url& url, std::vector<std::string> headers, EngineObservations* obs)
      : url_(url), headers_(std::move(headers)), obs_(obs) {
    if (!obs_) return;
    start_ = scrape();
    if (!start_) return;
    th_ = std::thread([this] {
      std::unique_lock<std::mutex> g(mu_);
      do {  // a sample right away, then every 100 ms
        g.unlock();
        auto m = scrape();
        g.lock();
        if (!m) return;
        if (auto u = first_of(*m, {"ignis_kv_cache_usage_ratio", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}))
          obs_->kv_utilization_samples.push_back(*u);
      } while (!cv_.wait_for(g, std::chrono::milliseconds(100), [this] { return stop_; }));
    });
  }
  void finish() {
    if (!obs_ || !start_) return;
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (th_.joinable()) th_.join();
    const auto end = scrape();
    if (!end) return;
    auto q0 = first_of(*start_, {"ignis_prefix_cache_queries_total", "vllm:prefix_cache_queries_total"});
    auto h0 = first_of(*start_, {"ignis_prefix_cache_hits_total", "vllm:prefix_cache_hits_total"});
    auto q1 = first_of(*end, {"ignis_prefix_cache_queries_total", "vllm:prefix_cache_queries_total"});
    auto h1 = first_of(*end, {"ignis_prefix_cache_hits_total", "vllm:prefix_cache_hits_total"});
    if (q0 && h0 && q1 && h1) {
      obs_->prefix_queries = static_cast<int64_t>(*q1 - *q0);
      obs_->prefix_hits = static_cast<int64_t>(*h1 - *h0);
    }
  }
  ~MetricsPoller() { finish(); }

 private:
  std::optional<std::map<std::string, double>> scrape() {
    try {
      HttpResponse r = http_request(url_, "GET", "/metrics", "", {}, 5.0, headers_);
      if (r.status != 200) return std::nullopt;
      return parse_prometheus(r.body);
    } catch (const Error&) {
      return std::nullopt;
    }
  }
  Url url_;
  std::vector<std::string> headers_;
  EngineObservations* obs_;
  std::optional<std::map<std::string, double>> start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread th_;
};
}  // namespace

std::vector<RequestRecord> run_serve(const std::vector<WorkItem>& items, const ServeOptions& o,
                                     EngineObservations* obs) {
  const Url url = parse_url(o.url);
  IGNIS_CHECK(o.concurrency >= 0, "--concurrency must be >= 0");
  for (size_t i = 0; i < items.size(); i++)
    IGNIS_CHECK(!o.send_text || !items[i].prompt.empty(),
                "--send-text: request {} of the workload has no \"prompt\" text (only token ids)", i + 1);
  const std::vector<double> arrivals = poisson_arrivals(static_cast<int>(items.size()), o.request_rate, o.seed);
  std::vector<RequestRecord> recs(items.size());
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  Progress bar(static_cast<int>(items.size()), "requests", o.progress);
  std::vector<std::thread> threads;
  threads.reserve(items.size());
  MetricsPoller metrics(url, auth_headers(o), obs);
  const auto t0 = SteadyClock::now();
  for (size_t i = 0; i < items.size(); i++) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<SteadyClock::duration>(
                                           std::chrono::duration<double>(arrivals[i])));
    {
      std::unique_lock<std::mutex> g(mu);
      cv.wait(g, [&] { return o.concurrency == 0 || in_flight < o.concurrency; });
      in_flight++;
    }
    threads.emplace_back([&, i] {
      one_request(url, items[i], o, t0, &recs[i]);
      bar.add();
      std::lock_guard<std::mutex> g(mu);
      in_flight--;
      cv.notify_all();
    });
  }
  for (auto& t : threads) t.join();
  metrics.finish();
  bar.done();
  return recs;
}

}  // namespace ignis::bench
