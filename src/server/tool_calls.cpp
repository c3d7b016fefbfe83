// ignis server: tool-call formats and the tool-call parser (tool_calls.h).
#include "server/tool_calls.h"

#include <random>

namespace ignis::server {

namespace {

std::string_view marker_of(ToolFormat f) {
  switch (f) {
    case ToolFormat::Llama3Json: return "<|python_tag|>";
    case ToolFormat::Hermes: return "<tool_call>";
    case ToolFormat::Mistral: return "[TOOL_CALLS]";
    case ToolFormat::None: break;
  }
  return "";
}

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

}  // namespace

const char* tool_format_name(ToolFormat f) {
  switch (f) {
    case ToolFormat::Llama3Json: return "llama3_json";
    case ToolFormat::Hermes: return "hermes";
    case ToolFormat::Mistral: return "mistral";
    case ToolFormat::None: break;
  }
  return "none";
}

ToolFormat detect_tool_format(std::string_view t) {
  if (t.find("<tool_call>") != std::string_view::npos) return ToolFormat::Hermes;
  if (t.find("[TOOL_CALLS]") != std::string_view::npos || t.find("[AVAILABLE_TOOLS]") != std::string_view::npos)
    return ToolFormat::Mistral;
  if (t.find("<|python_tag|>") != std::string_view::npos ||
      (t.find("<|start_header_id|>") != std::string_view::npos && t.find("tools") != std::string_view::npos))
    return ToolFormat::Llama3Json;
  return ToolFormat::None;
}

std::string make_tool_call_id() {
  static constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlnum[rng() % 62];
  return id;
}

ToolCallParser::ToolCallParser(ToolFormat f, size_t max_calls) : f_(f), max_calls_(max_calls) {}

// Where a call region starts in pending_: the marker's position (*complete: the whole marker is
// there), or npos. A bare leading '{' (Llama) / '[{' (Mistral) before any content counts as a marker.
size_t ToolCallParser::marker_start(bool* complete) const {
  *complete = false;
  const std::string_view m = marker_of(f_);
  if (m.empty()) return std::string::npos;
  if (size_t p = pending_.find(m); p != std::string::npos) {
    *complete = true;
    return p;
  }
  if (!emitted_any_ && (f_ == ToolFormat::Llama3Json || f_ == ToolFormat::Mistral)) {
    size_t i = 0;
    while (i < pending_.size() && is_ws(pending_[i])) ++i;
    if (i == pending_.size()) return 0;  // only whitespace so far: wait
    if (f_ == ToolFormat::Llama3Json && pending_[i] == '{') {
      *complete = true;
      return i;
    }
    if (f_ == ToolFormat::Mistral && pending_[i] == '[') {
      size_t j = i + 1;
      while (j < pending_.size() && is_ws(pending_[j])) ++j;
      if (j == pending_.size()) return i;  // "[" so far: wait
      if (pending_[j] == '{') {
        *complete = true;
        return i;
      }
    }
  }
  // The longest suffix that is a proper prefix of the marker is held back.
  for (size_t n = std::min(m.size() - 1, pending_.size()); n > 0; --n)
    if (pending_.compare(pending_.size() - n, n, m.substr(0, n)) == 0) return pending_.size() - n;
  return std::string::npos;
}

void ToolCallParser::push(std::string_view text, std::vector<ToolEvent>& out) {
  if (in_region_) {
    region_ += text;
    scan_region(out);
    return;
  }
  pending_ += text;
  bool complete = false;
  const size_t at = marker_start(&complete);
  const size_t emit = at == std::string::npos ? pending_.size() : at;
  const std::string_view m = marker_of(f_);
  const bool tagged = complete && pending_.compare(at, m.size(), m) == 0;
  bool blank = true;
  for (size_t i = 0; i < emit; ++i) blank &= is_ws(pending_[i]);
  if (complete && !tagged && blank) pending_.erase(0, emit);  // whitespace before a bare call is not content
  else if (emit > 0) {
    std::string c = pending_.substr(0, emit);
    for (char ch : c) emitted_any_ |= !is_ws(ch);
    out.push_back({ToolEvent::Kind::Content, 0, std::move(c), "", ""});
    pending_.erase(0, emit);
  }
  if (!complete) return;
  in_region_ = true;
  region_ = tagged ? pending_.substr(m.size()) : pending_;
  region_marker_ = tagged ? std::string(m) : "";
  pending_.clear();
  scan_region(out);
}

namespace {

// End of the balanced JSON value starting at text[at] ('{'), strings skipped: the index of its
// closing brace, or npos while it is incomplete.
size_t object_end(const std::string& text, size_t at) {
  int depth = 0;
  bool in_str = false, esc = false;
  for (size_t i = at; i < text.size(); ++i) {
    const char c = text[i];
    if (in_str) {
      if (esc) esc = false;
      else if (c == '\\') esc = true;
      else if (c == '"') in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string::npos;
}

// A call object's head `{"name": "<name>", "arguments": ` (or "parameters") up to its arguments
// object: the name and the position of that object's '{'; false while not (yet) of that shape.
bool call_head(const std::string& text, size_t at, std::string* name, size_t* args) {
  size_t i = at + 1;
  auto ws = [&] {
    while (i < text.size() && is_ws(text[i])) ++i;
  };
  auto lit = [&](std::string_view w) {
    if (text.compare(i, w.size(), w) != 0) return false;
    i += w.size();
    return true;
  };
  auto str = [&](std::string* out) {  // a JSON string, unescaped
    if (i >= text.size() || text[i] != '"') return false;
    size_t j = i + 1;
    for (bool esc = false; j < text.size(); ++j) {
      if (esc) esc = false;
      else if (text[j] == '\\') esc = true;
      else if (text[j] == '"') break;
    }
    if (j >= text.size()) return false;
    json v = json::parse(text.substr(i, j + 1 - i), nullptr, false);
    if (!v.is_string()) return false;
    *out = v.get<std::string>();
    i = j + 1;
    return true;
  };
  std::string key;
  ws();
  if (!lit("\"name\"")) return false;
  ws();
  if (!lit(":")) return false;
  ws();
  if (!str(name)) return false;
  ws();
  if (!lit(",")) return false;
  ws();
  if (!str(&key) || (key != "arguments" && key != "parameters")) return false;
  ws();
  if (!lit(":")) return false;
  ws();
  if (i >= text.size() || text[i] != '{') return false;
  *args = i;
  return true;
}

}  // namespace

void ToolCallParser::scan_region(std::vector<ToolEvent>& out) {
  while (true) {
    if (obj_start_ == std::string::npos) {
      obj_start_ = region_.find('{', scanned_);
      if (obj_start_ == std::string::npos) return;
      open_ = false;
    }
    std::string name;
    size_t args = 0;
    if (!open_ && calls_ < max_calls_ && call_head(region_, obj_start_, &name, &args)) {
      open_ = true;
      args_begin_ = args_sent_ = args;
      out.push_back({ToolEvent::Kind::Call, calls_, "", make_tool_call_id(), std::move(name)});
    }
    if (open_) {  // stream the arguments object's text up to its end or what has arrived
      const size_t args_end = object_end(region_, args_begin_);
      const size_t upto = args_end == std::string::npos ? region_.size() : args_end + 1;
      if (upto > args_sent_) out.push_back({ToolEvent::Kind::Arguments, calls_, region_.substr(args_sent_, upto - args_sent_), "", ""});
      args_sent_ = upto;
    }
    const size_t end = object_end(region_, obj_start_);
    if (end == std::string::npos) return;  // incomplete: wait for more
    const size_t start = obj_start_;
    scanned_ = end + 1;
    obj_start_ = std::string::npos;
    if (open_) {
      open_ = false;
      ++calls_;
      continue;
    }
    json obj = json::parse(region_.substr(start, end + 1 - start), nullptr, false);
    if (!obj.is_object() || !obj.contains("name") || !obj["name"].is_string()) continue;
    const json* a = obj.contains("arguments") ? &obj["arguments"] : obj.contains("parameters") ? &obj["parameters"] : nullptr;
    std::string text = "{}";
    if (a && a->is_string()) text = a->get<std::string>();  // arguments given as JSON text
    else if (a && !a->is_null()) text = a->dump();
    if (calls_ >= max_calls_) continue;
    out.push_back({ToolEvent::Kind::Call, calls_, "", make_tool_call_id(), obj["name"].get<std::string>()});
    out.push_back({ToolEvent::Kind::Arguments, calls_, std::move(text), "", ""});
    ++calls_;
  }
}

void ToolCallParser::finish(std::vector<ToolEvent>& out) {
  if (!in_region_) {
    if (!pending_.empty()) out.push_back({ToolEvent::Kind::Content, 0, std::move(pending_), "", ""});
    pending_.clear();
    return;
  }
  scan_region(out);
  if (open_) {  // cut off inside a call (max_tokens): it was reported; its arguments are incomplete
    open_ = false;
    ++calls_;
  }
  if (calls_ == 0)  // the marker led to no call: it was text after all
    out.push_back({ToolEvent::Kind::Content, 0, region_marker_ + region_, "", ""});
  region_.clear();
}

ToolParse parse_tool_calls(ToolFormat f, std::string_view text, size_t max_calls) {
  ToolCallParser p(f, max_calls);
  std::vector<ToolEvent> ev;
  p.push(text, ev);
  p.finish(ev);
  ToolParse r;
  for (ToolEvent& e : ev) {
    if (e.kind == ToolEvent::Kind::Content) r.content += e.text;
    else if (e.kind == ToolEvent::Kind::Call) r.calls.push_back({e.id, e.name, ""});
    else r.calls[e.index].arguments += e.text;
  }
  return r;
}

}  // namespace ignis::server
