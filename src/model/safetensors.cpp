#include "model/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "model/json_util.h"

namespace ignis {

using jsonf::Json;

namespace {

constexpr int kMaxRank = 8;
constexpr uint64_t kMaxOffset = uint64_t(1) << 52;  // 4 PB: anything larger is a lie

SafetensorsEntry parse_entry(const std::string& name, const Json& v, const std::string& file) {
  SafetensorsEntry e;
  e.name = name;
  IGNIS_CHECK(v.is_object(), "{}: tensor '{}': header entry must be an object, got {}", file, name,
              jsonf::type_name(v));
  const Json* dt = jsonf::find(v, "dtype");
  IGNIS_CHECK(dt && dt->is_string(), "{}: tensor '{}': missing or non-string 'dtype'", file, name);
  IGNIS_CHECK(parse_safetensors_dtype(dt->get_ref<const std::string&>(), &e.dtype), "{}: tensor '{}': unknown dtype '{}'",
              file, name, dt->get_ref<const std::string&>());

  const Json* sh = jsonf::find(v, "shape");
  IGNIS_CHECK(sh && sh->is_array(), "{}: tensor '{}': missing or non-array 'shape'", file, name);
  IGNIS_CHECK(sh->size() <= size_t(kMaxRank), "{}: tensor '{}': rank {} is larger than {}", file, name, sh->size(),
              kMaxRank);
  uint64_t numel = 1;
  for (size_t i = 0; i < sh->size(); i++) {
    const Json& d = (*sh)[i];
    IGNIS_CHECK(d.is_number_integer(), "{}: tensor '{}': shape[{}] must be a non-negative integer, got {}", file, name,
                i, d.is_number() ? d.dump() : jsonf::type_name(d));
    IGNIS_CHECK(d.is_number_unsigned() || d.get<int64_t>() >= 0, "{}: tensor '{}': shape[{}] = {} is negative", file,
                name, i, d.get<int64_t>());
    uint64_t n = d.get<uint64_t>();
    IGNIS_CHECK(n <= kMaxOffset, "{}: tensor '{}': shape[{}] = {} is absurd", file, name, i, n);
    e.shape.push_back(int64_t(n));
    IGNIS_CHECK(!__builtin_mul_overflow(numel, n, &numel) && numel <= kMaxOffset,
                "{}: tensor '{}': shape {} has too many elements", file, name, sh->dump());
  }

  const Json* off = jsonf::find(v, "data_offsets");
  IGNIS_CHECK(off && off->is_array() && off->size() == 2, "{}: tensor '{}': 'data_offsets' must be [begin, end]", file,
              name);
  for (int i = 0; i < 2; i++) {
    const Json& o = (*off)[i];
    IGNIS_CHECK(o.is_number_unsigned() || (o.is_number_integer() && o.get<int64_t>() >= 0),
                "{}: tensor '{}': data_offsets[{}] must be a non-negative integer, got {}", file, name, i,
                o.is_number() ? o.dump() : jsonf::type_name(o));
    uint64_t x = o.get<uint64_t>();
    IGNIS_CHECK(x <= kMaxOffset, "{}: tensor '{}': data_offsets[{}] = {} is absurd", file, name, i, x);
    (i == 0 ? e.begin : e.end) = x;
  }
  IGNIS_CHECK(e.begin <= e.end, "{}: tensor '{}': data_offsets [{}, {}] has begin after end", file, name, e.begin,
              e.end);
  uint64_t nbytes = numel * dtype_size(e.dtype);  // numel <= 2^52, size <= 8: no overflow
  IGNIS_CHECK(nbytes == e.end - e.begin,
              "{}: tensor '{}': dtype {} shape {} needs {} bytes but data_offsets [{}, {}] hold {}", file, name,
              dtype_name(e.dtype), sh->dump(), nbytes, e.begin, e.end, e.end - e.begin);
  return e;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& file) {
  IGNIS_CHECK(size >= 8, "{}: truncated safetensors file ({} bytes, need at least 8 for the header length)", file,
              size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | data[i];  // little-endian
  IGNIS_CHECK(n <= kMaxSafetensorsHeader, "{}: safetensors header length {} is absurd (limit {} bytes)", file, n,
              kMaxSafetensorsHeader);
  IGNIS_CHECK(n <= size - 8, "{}: safetensors header length {} exceeds the file size ({} bytes; truncated file?)",
              file, n, size);
  IGNIS_CHECK(n >= 2 && data[8] == '{', "{}: safetensors header must be a JSON object starting with '{{'", file);

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_size = size - h.data_start;
  std::string_view text(reinterpret_cast<const char*>(data + 8), size_t(n));
  Json j = jsonf::parse(text, file + " (safetensors header)");
  IGNIS_CHECK(j.is_object(), "{}: safetensors header must be a JSON object", file);

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      IGNIS_CHECK(it->is_object(), "{}: '__metadata__' must be an object of strings", file);
      for (auto m = it->begin(); m != it->end(); ++m) {
        IGNIS_CHECK(m->is_string(), "{}: '__metadata__' value of '{}' must be a string, got {}", file, m.key(),
                    jsonf::type_name(*m));
        h.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    IGNIS_CHECK(!name.empty(), "{}: tensor with an empty name", file);
    h.tensors.push_back(parse_entry(name, *it, file));
  }

  // The data section must be covered exactly: sorted by offset, each tensor starts
  // where the previous one ends, the last ends at the end of the file.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const auto& e : h.tensors) {
    IGNIS_CHECK(e.end <= data_size,
                "{}: tensor '{}': data_offsets [{}, {}] go past the end of the data section ({} bytes; truncated "
                "file?)",
                file, e.name, e.begin, e.end, data_size);
    if (e.begin < pos)
      IGNIS_FAIL("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", file, e.name, e.begin, e.end,
                 prev ? prev->name : "?", prev ? prev->begin : 0, prev ? prev->end : 0);
    IGNIS_CHECK(e.begin == pos, "{}: tensor '{}': data_offsets [{}, {}] leave a gap of {} bytes before it", file,
                e.name, e.begin, e.end, e.begin - pos);
    pos = e.end;
    prev = &e;
  }
  IGNIS_CHECK(pos == data_size, "{}: {} bytes of the data section after the last tensor are not covered by any tensor",
              file, data_size - pos);
  return h;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  header_ = parse_safetensors_header(file_.data(), file_.size(), path);
}

std::map<std::string, std::string> parse_safetensors_index(const std::string& json_text, const std::string& file) {
  Json j = jsonf::parse(json_text, file);
  IGNIS_CHECK(j.is_object(), "{}: top level must be a JSON object", file);
  const Json* wm = jsonf::find(j, "weight_map");
  IGNIS_CHECK(wm, "{}: missing required field 'weight_map'", file);
  IGNIS_CHECK(wm->is_object(), "{}: field 'weight_map' must be an object, got {}", file, jsonf::type_name(*wm));
  std::map<std::string, std::string> out;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    IGNIS_CHECK(it->is_string(), "{}: weight_map entry for tensor '{}' must be a file name string, got {}", file,
                it.key(), jsonf::type_name(*it));
    std::string shard = it->get<std::string>();
    IGNIS_CHECK(!shard.empty() && shard[0] != '/' && shard.find("..") == std::string::npos &&
                    shard.find('\0') == std::string::npos,
                "{}: weight_map entry for tensor '{}': shard file name '{}' must be a plain relative name", file,
                it.key(), shard);
    out[it.key()] = shard;
  }
  IGNIS_CHECK(!out.empty(), "{}: field 'weight_map' is empty", file);
  return out;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  Json h = Json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  for (const auto& t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= uint64_t(d);
    IGNIS_CHECK(numel * dtype_size(t.dtype) == t.bytes.size(), "write_safetensors {}: tensor '{}' has {} bytes, shape needs {}",
                path, t.name, t.bytes.size(), numel * dtype_size(t.dtype));
    h[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  std::string text = h.dump();
  while (text.size() % 8) text += ' ';  // align the data section to 8 bytes
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  IGNIS_CHECK(f, "{}: cannot create", path);
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; i++) len[i] = uint8_t(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f.get()) == 8 && std::fwrite(text.data(), 1, n, f.get()) == n;
  for (const auto& t : tensors)
    ok = ok && (t.bytes.empty() || std::fwrite(t.bytes.data(), 1, t.bytes.size(), f.get()) == t.bytes.size());
  IGNIS_CHECK(ok, "{}: write failed", path);
}

}  // namespace ignis

namespace ignis {

size_t SafetensorsStreamTensor::nbytes() const {
  uint64_t numel = 1;
  for (int64_t d : shape) numel *= uint64_t(d);
  return size_t(numel) * dtype_size(dtype);
}

void write_safetensors_stream(const std::string& path, const std::vector<SafetensorsStreamTensor>& tensors,
                              const std::map<std::string, std::string>& metadata,
                              const std::function<void(size_t)>& written) {
  Json h = Json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  for (const auto& t : tensors) {
    IGNIS_CHECK(!h.contains(t.name), "write_safetensors {}: tensor '{}' appears twice", path, t.name);
    h[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {off, off + t.nbytes()}}};
    off += t.nbytes();
  }
  std::string text = h.dump();
  while (text.size() % 8) text += ' ';
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  IGNIS_CHECK(f, "{}: cannot create", path);
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; i++) len[i] = uint8_t(n >> (8 * i));
  IGNIS_CHECK(std::fwrite(len, 1, 8, f.get()) == 8 && std::fwrite(text.data(), 1, n, f.get()) == n, "{}: write failed",
              path);
  for (const auto& t : tensors) {
    size_t got = 0;
    t.produce([&](const void* data, size_t bytes) {
      IGNIS_CHECK(got + bytes <= t.nbytes(), "write_safetensors {}: tensor '{}' produced more than its {} bytes", path,
                  t.name, t.nbytes());
      IGNIS_CHECK(bytes == 0 || std::fwrite(data, 1, bytes, f.get()) == bytes, "{}: write failed", path);
      got += bytes;
    });
    IGNIS_CHECK(got == t.nbytes(), "write_safetensors {}: tensor '{}' produced {} bytes, its shape needs {}", path,
                t.name, got, t.nbytes());
    if (written) written(got);
  }
  IGNIS_CHECK(std::fflush(f.get()) == 0, "{}: write failed", path);
}

}  // namespace ignis
