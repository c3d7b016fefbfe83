// Parsing of the three published FP8 checkpoint descriptions (see config.h) and of --quantization.
#include "quant/config.h"

#include <cctype>
#include <cmath>

#include "core/error.h"

namespace ignis {

namespace {

using Json = nlohmann::json;

const char* type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    default: return "value";
  }
}

// A field of an object being read: `path` is its full name for messages ("quantization_config.format").
struct Ctx {
  const std::string& file;
  std::string path;
  Ctx at(const std::string& key) const { return Ctx{file, path.empty() ? key : path + "." + key}; }
};

const Json* member(const Json& obj, const char* key) {  // nullptr when absent or null
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

void need_object(const Json& j, const Ctx& c) {
  IGNIS_CHECK(j.is_object(), "{}: field '{}' must be an object, got {}", c.file, c.path, type_name(j));
}

std::string get_string(const Json& j, const Ctx& c) {
  IGNIS_CHECK(j.is_string(), "{}: field '{}' must be a string, got {}", c.file, c.path, type_name(j));
  return j.get<std::string>();
}

int64_t get_int(const Json& j, const Ctx& c, int64_t lo, int64_t hi) {
  double v = 0;
  if (j.is_number_integer() || j.is_number_unsigned()) {
    v = j.is_number_unsigned() ? double(j.get<uint64_t>()) : double(j.get<int64_t>());
  } else if (j.is_number_float()) {
    v = j.get<double>();
    IGNIS_CHECK(std::isfinite(v) && v == std::floor(v), "{}: field '{}' must be an integer, got {}", c.file, c.path, v);
  } else {
    IGNIS_FAIL("{}: field '{}' must be an integer, got {}", c.file, c.path, type_name(j));
  }
  IGNIS_CHECK(v >= double(lo) && v <= double(hi), "{}: field '{}' = {} is out of range [{}, {}]", c.file, c.path, v,
              lo, hi);
  return int64_t(v);
}

std::optional<std::string> opt_string(const Json& obj, const char* key, const Ctx& c) {
  const Json* j = member(obj, key);
  if (!j) return std::nullopt;
  return get_string(*j, c.at(key));
}

std::optional<bool> opt_bool(const Json& obj, const char* key, const Ctx& c) {
  const Json* j = member(obj, key);
  if (!j) return std::nullopt;
  IGNIS_CHECK(j->is_boolean(), "{}: field '{}' must be true or false, got {}", c.file, c.at(key).path, type_name(*j));
  return j->get<bool>();
}

std::vector<std::string> string_list(const Json& obj, const char* key, const Ctx& c) {
  std::vector<std::string> out;
  const Json* j = member(obj, key);
  if (!j) return out;
  const Ctx f = c.at(key);
  IGNIS_CHECK(j->is_array(), "{}: field '{}' must be an array of strings, got {}", c.file, f.path, type_name(*j));
  IGNIS_CHECK(j->size() <= 100000, "{}: field '{}' has {} entries (at most 100000)", c.file, f.path, j->size());
  for (size_t i = 0; i < j->size(); ++i) {
    Ctx e{c.file, f.path + "[" + std::to_string(i) + "]"};
    std::string s = get_string((*j)[i], e);
    check_module_pattern(s, c.file + ": field '" + e.path + "'");
    out.push_back(std::move(s));
  }
  return out;
}

std::string lower(std::string s) {
  for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// compressed-tensors QuantizationArgs common to weights, input_activations and kv_cache_scheme:
// 8-bit float, symmetric. Returns the strategy ("" when absent).
std::string check_fp8_args(const Json& a, const Ctx& c) {
  need_object(a, c);
  const Json* nb = member(a, "num_bits");
  IGNIS_CHECK(nb, "{}: missing required field '{}'", c.file, c.at("num_bits").path);
  int64_t bits = get_int(*nb, c.at("num_bits"), 0, 64);
  auto type = opt_string(a, "type", c).value_or("int");  // compressed-tensors' default type is int
  IGNIS_CHECK(bits == 8 && type == "float",
              "{}: field '{}': {}-bit {} quantization is not supported (ignis supports 8-bit float, FP8 e4m3)",
              c.file, c.path, bits, type);
  IGNIS_CHECK(opt_bool(a, "symmetric", c).value_or(true), "{}: field '{}' = false: asymmetric FP8 is not supported",
              c.file, c.at("symmetric").path);
  return opt_string(a, "strategy", c).value_or("");
}

std::optional<bool> dynamic_flag(const Json& a, const Ctx& c) {
  const Json* d = member(a, "dynamic");
  if (!d) return std::nullopt;
  IGNIS_CHECK(d->is_boolean(), "{}: field '{}' = {}: only true or false is supported", c.file, c.at("dynamic").path,
              d->dump());
  return d->get<bool>();
}

void check_format(const std::string& fmt, const Ctx& c) {
  IGNIS_CHECK(fmt == "float-quantized" || fmt == "naive-quantized" || fmt == "pack-quantized",
              "{}: field '{}': format '{}' is not supported (ignis loads FP8 checkpoints in format 'float-quantized' "
              "or 'naive-quantized', int4 / int8 weight-only in 'pack-quantized')",
              c.file, c.path, fmt);
}

// compressed-tensors integer weight-only (W4A16 / W8A16, format pack-quantized): weights {num_bits 4 | 8,
// type int, strategy group | channel, group_size, symmetric, actorder null | "weight" | "group"}, no input
// activations. `fmt`: the group's or the top-level format.
LinearSpec parse_ct_int_group(const Json& g, const Json& w, const Ctx& c, const std::string& fmt) {
  const Ctx wc = c.at("weights");
  IGNIS_CHECK(fmt == "pack-quantized", "{}: field '{}': int weights in format '{}' are not supported (ignis loads "
              "int4 / int8 weight-only compressed-tensors checkpoints in format 'pack-quantized')", c.file, wc.path,
              fmt.empty() ? "<absent>" : fmt);
  const Json* nb = member(w, "num_bits");
  IGNIS_CHECK(nb, "{}: missing required field '{}'", c.file, wc.at("num_bits").path);
  LinearSpec s;
  s.bits = int(get_int(*nb, wc.at("num_bits"), 0, 64));
  IGNIS_CHECK(s.bits == 4 || s.bits == 8, "{}: field '{}': {}-bit integer weights are not supported (4 or 8)", c.file,
              wc.at("num_bits").path, s.bits);
  s.layout = IntLayout::CtPacked;
  s.zero_point = !opt_bool(w, "symmetric", wc).value_or(true);
  IGNIS_CHECK(!dynamic_flag(w, wc).value_or(false), "{}: field '{}': dynamic weight quantization is not supported",
              c.file, wc.at("dynamic").path);
  const std::string st = opt_string(w, "strategy", wc).value_or("");
  if (st == "group") {
    const Json* gs = member(w, "group_size");
    IGNIS_CHECK(gs, "{}: missing required field '{}' for strategy group", c.file, wc.at("group_size").path);
    s.group = int(get_int(*gs, wc.at("group_size"), 1, 1 << 20));
  } else if (st == "channel") {
    s.group = 0;
  } else {
    IGNIS_FAIL("{}: field '{}': integer weight strategy '{}' is not supported (group or channel)", c.file,
               wc.at("strategy").path, st.empty() ? "<absent>" : st);
  }
  if (const Json* ao = member(w, "actorder")) {
    const Ctx ac = wc.at("actorder");
    if (ao->is_boolean()) {
      s.act_order = ao->get<bool>();  // older compressed-tensors: true = "group"
    } else {
      const std::string a = get_string(*ao, ac);
      IGNIS_CHECK(a == "group" || a == "weight" || a == "static" || a == "dynamic",
                  "{}: field '{}': actorder '{}' is not supported (group, weight or null)", c.file, ac.path, a);
      s.act_order = a == "group" || a == "dynamic";  // "weight": the order of quantization only, no g_idx
    }
    IGNIS_CHECK(!s.act_order || st == "group", "{}: field '{}': act order needs strategy group", c.file, ac.path);
  }
  const Json* ia = member(g, "input_activations");
  IGNIS_CHECK(!ia, "{}: field '{}': integer weights with quantized input activations (W4A8 / W8A8 int) are not "
              "supported (weight-only: input_activations null)", c.file, c.at("input_activations").path);
  IGNIS_CHECK(!member(g, "output_activations"), "{}: field '{}': output activation quantization is not supported",
              c.file, c.at("output_activations").path);
  return s;
}

LinearSpec parse_ct_group(const Json& g, const Ctx& c, const std::string& top_format) {
  need_object(g, c);
  std::string fmt = top_format, fmt_path = "quantization_config.format";
  if (auto f = opt_string(g, "format", c)) {
    check_format(*f, c.at("format"));
    fmt = *f;
    fmt_path = c.at("format").path;
  }
  const Json* w = member(g, "weights");
  IGNIS_CHECK(w, "{}: missing required field '{}'", c.file, c.at("weights").path);
  const Ctx wc = c.at("weights");
  need_object(*w, wc);
  if (opt_string(*w, "type", wc).value_or("int") == "int") return parse_ct_int_group(g, *w, c, fmt);
  const std::string ws = check_fp8_args(*w, wc);
  IGNIS_CHECK(fmt != "pack-quantized", "{}: field '{}': format 'pack-quantized' packs integer weights, but '{}' are "
              "FP8 (float-quantized)", c.file, fmt_path, wc.path);
  IGNIS_CHECK(!dynamic_flag(*w, wc).value_or(false), "{}: field '{}': dynamic weight quantization is not supported",
              c.file, wc.at("dynamic").path);
  LinearSpec s;
  s.weight = DType::F8_E4M3;
  if (ws == "tensor") {
    s.wscale = WeightScale::Tensor;
  } else if (ws == "channel") {
    s.wscale = WeightScale::Channel;
  } else if (ws == "block") {
    const Json* bs = member(*w, "block_structure");
    const Ctx bc = wc.at("block_structure");
    IGNIS_CHECK(bs && bs->is_array() && bs->size() == 2, "{}: field '{}' must be [block_n, block_k] for strategy block",
                c.file, bc.path);
    s.wscale = WeightScale::Block;
    s.block_n = int(get_int((*bs)[0], Ctx{c.file, bc.path + "[0]"}, 1, 1 << 16));
    s.block_k = int(get_int((*bs)[1], Ctx{c.file, bc.path + "[1]"}, 1, 1 << 16));
  } else {
    IGNIS_FAIL("{}: field '{}': weight strategy '{}' is not supported (tensor, channel or block)", c.file,
               wc.at("strategy").path, ws.empty() ? "<absent>" : ws);
  }
  const Json* ia = member(g, "input_activations");
  const Ctx ic = c.at("input_activations");
  IGNIS_CHECK(ia, "{}: field '{}' is null: weight-only FP8 (W8A16) is not supported; ignis needs FP8 input "
              "activations (static per tensor, or dynamic per token / per group)", c.file, ic.path);
  const std::string as = check_fp8_args(*ia, ic);
  const std::optional<bool> dyn = dynamic_flag(*ia, ic);
  if (as == "tensor" && !dyn.value_or(false)) {
    s.act = ActScale::StaticTensor;
  } else if (as == "token" && dyn.value_or(false)) {
    s.act = ActScale::DynamicToken;
  } else if (as == "group" && dyn.value_or(false)) {
    const Json* gs = member(*ia, "group_size");
    IGNIS_CHECK(gs, "{}: missing required field '{}' for strategy group", c.file, ic.at("group_size").path);
    s.act = ActScale::DynamicGroup;
    s.act_group = int(get_int(*gs, ic.at("group_size"), 1, 1 << 16));
  } else {
    IGNIS_FAIL("{}: field '{}': input activations with strategy '{}' and dynamic {} are not supported (static "
               "'tensor', dynamic 'token' or dynamic 'group')",
               c.file, ic.path, as.empty() ? "<absent>" : as, dyn ? (*dyn ? "true" : "false") : "<absent>");
  }
  const Json* oa = member(g, "output_activations");
  IGNIS_CHECK(!oa, "{}: field '{}': output activation quantization is not supported", c.file,
              c.at("output_activations").path);
  return s;
}

// A kv_cache_scheme object (compressed-tensors; ModelOpt's config.json form): FP8, per tensor, static.
// True (an FP8 KV cache with k_scale / v_scale tensors); throws naming the field otherwise.
bool parse_kv_cache_scheme(const Json& kv, const Ctx& c) {
  const Ctx kc = c.at("kv_cache_scheme");
  const std::string st = check_fp8_args(kv, kc);
  IGNIS_CHECK(st.empty() || st == "tensor", "{}: field '{}': KV cache strategy '{}' is not supported (tensor)", c.file,
              kc.at("strategy").path, st);
  IGNIS_CHECK(!dynamic_flag(kv, kc).value_or(false), "{}: field '{}': dynamic KV cache scales are not supported",
              c.file, kc.at("dynamic").path);
  return true;
}

QuantConfig parse_compressed_tensors(const Json& qc, const Ctx& c) {
  QuantConfig q;
  q.method = QuantConfig::Method::CompressedTensors;
  std::string top_format;
  if (auto f = opt_string(qc, "format", c)) {
    if (*f != "mixed-precision") check_format(*f, c.at("format"));
    if (*f != "mixed-precision") top_format = *f;
  }
  if (const Json* sp = member(qc, "sparsity_config")) {
    need_object(*sp, c.at("sparsity_config"));
    if (!sp->empty()) {
      auto f = opt_string(*sp, "format", c.at("sparsity_config")).value_or("");
      IGNIS_CHECK(f == "dense", "{}: field '{}': sparse checkpoints are not supported", c.file,
                  c.at("sparsity_config").path);
    }
  }
  if (const Json* tc = member(qc, "transform_config")) {
    IGNIS_CHECK(tc->is_object() && tc->empty(), "{}: field '{}': transforms are not supported", c.file,
                c.at("transform_config").path);
  }
  const Json* groups = member(qc, "config_groups");
  const Ctx gc = c.at("config_groups");
  IGNIS_CHECK(groups, "{}: missing required field '{}'", c.file, gc.path);
  need_object(*groups, gc);
  IGNIS_CHECK(!groups->empty(), "{}: field '{}' is empty", c.file, gc.path);
  bool all = false, first = true;
  for (auto it = groups->begin(); it != groups->end(); ++it) {
    const Ctx one = gc.at(it.key());
    LinearSpec s = parse_ct_group(*it, one, top_format);
    const Json* t = member(*it, "targets");
    IGNIS_CHECK(t && t->is_array() && !t->empty(), "{}: field '{}' must be a non-empty array of module names",
                c.file, one.at("targets").path);
    for (const std::string& name : string_list(*it, "targets", one)) {
      if (name == "Linear") all = true;
      else q.targets.push_back(name);
    }
    if (first) {
      q.linear = s;
      first = false;
    } else {
      IGNIS_CHECK(s == q.linear, "{}: field '{}': {} differs from the first group's {}; config groups with different "
                  "schemes are not supported", c.file, one.path, s.describe(), q.linear.describe());
    }
  }
  if (all) q.targets.clear();
  q.ignore = string_list(qc, "ignore", c);
  if (const Json* kv = member(qc, "kv_cache_scheme")) q.kv_cache_fp8 = parse_kv_cache_scheme(*kv, c);
  return q;
}

QuantConfig parse_modelopt(const Json& o, const Ctx& c) {
  need_object(o, c);
  QuantConfig q;
  q.method = QuantConfig::Method::ModelOpt;
  auto algo = opt_string(o, "quant_algo", c);
  IGNIS_CHECK(algo, "{}: missing required field '{}'", c.file, c.at("quant_algo").path);
  const std::string a = lower(*algo);
  q.linear.weight = DType::F8_E4M3;
  if (a == "fp8") {
    q.linear.wscale = WeightScale::Tensor;
    q.linear.act = ActScale::StaticTensor;
  } else if (a == "fp8_per_channel_per_token") {
    q.linear.wscale = WeightScale::Channel;
    q.linear.act = ActScale::DynamicToken;
  } else {
    IGNIS_FAIL("{}: field '{}': quant_algo '{}' is not supported (FP8, FP8_PER_CHANNEL_PER_TOKEN)", c.file,
               c.at("quant_algo").path, *algo);
  }
  if (auto kv = opt_string(o, "kv_cache_quant_algo", c)) {
    IGNIS_CHECK(lower(*kv) == "fp8", "{}: field '{}': KV cache algorithm '{}' is not supported (FP8)", c.file,
                c.at("kv_cache_quant_algo").path, *kv);
    q.kv_cache_fp8 = true;
  }
  // ModelOpt's config.json form (transformers' ModelOpt integration) spells the KV cache as a
  // compressed-tensors-style kv_cache_scheme {num_bits 8, type float, dynamic false}.
  if (const Json* kv = member(o, "kv_cache_scheme")) q.kv_cache_fp8 = parse_kv_cache_scheme(*kv, c);
  q.ignore = string_list(o, "exclude_modules", c);
  for (auto& s : string_list(o, "ignore", c)) q.ignore.push_back(s);
  return q;
}

QuantConfig parse_fp8(const Json& qc, const Ctx& c) {
  QuantConfig q;
  q.method = QuantConfig::Method::Fp8;
  if (auto f = opt_string(qc, "fmt", c))
    IGNIS_CHECK(*f == "e4m3", "{}: field '{}': FP8 format '{}' is not supported (e4m3)", c.file, c.at("fmt").path, *f);
  const std::string scheme = opt_string(qc, "activation_scheme", c).value_or("dynamic");
  IGNIS_CHECK(scheme == "dynamic" || scheme == "static",
              "{}: field '{}': activation scheme '{}' is not supported (dynamic or static)", c.file,
              c.at("activation_scheme").path, scheme);
  q.linear.weight = DType::F8_E4M3;
  if (const Json* b = member(qc, "weight_block_size")) {
    const Ctx bc = c.at("weight_block_size");
    IGNIS_CHECK(b->is_array() && b->size() == 2, "{}: field '{}' must be [block_n, block_k]", c.file, bc.path);
    q.linear.wscale = WeightScale::Block;
    q.linear.block_n = int(get_int((*b)[0], Ctx{c.file, bc.path + "[0]"}, 1, 1 << 16));
    q.linear.block_k = int(get_int((*b)[1], Ctx{c.file, bc.path + "[1]"}, 1, 1 << 16));
    IGNIS_CHECK(scheme == "dynamic", "{}: field '{}': block-scaled FP8 needs activation_scheme 'dynamic'", c.file,
                c.at("activation_scheme").path);
    q.linear.act = ActScale::DynamicGroup;
    q.linear.act_group = q.linear.block_k;
  } else {
    q.linear.wscale = WeightScale::Tensor;
    q.linear.act = scheme == "static" ? ActScale::StaticTensor : ActScale::DynamicToken;
  }
  q.ignore = string_list(qc, "modules_to_not_convert", c);
  for (auto& s : string_list(qc, "ignored_layers", c)) q.ignore.push_back(s);
  q.ignore.push_back("lm_head");  // transformers and vLLM never convert the output projection
  return q;
}

// AutoAWQ: {quant_method awq, bits 4, group_size 128 | 64 | ..., zero_point true, version gemm,
// modules_to_not_convert}. lm_head is never converted.
QuantConfig parse_awq(const Json& qc, const Ctx& c) {
  QuantConfig q;
  q.method = QuantConfig::Method::Awq;
  LinearSpec& s = q.linear;
  s.layout = IntLayout::AwqGemm;
  const Json* b = member(qc, "bits");
  if (!b) b = member(qc, "w_bit");
  IGNIS_CHECK(b, "{}: missing required field '{}'", c.file, c.at("bits").path);
  s.bits = int(get_int(*b, c.at("bits"), 0, 64));
  IGNIS_CHECK(s.bits == 4, "{}: field '{}': {}-bit AWQ is not supported (4)", c.file, c.at("bits").path, s.bits);
  const Json* gs = member(qc, "group_size");
  if (!gs) gs = member(qc, "q_group_size");
  IGNIS_CHECK(gs, "{}: missing required field '{}'", c.file, c.at("group_size").path);
  const int64_t g = get_int(*gs, c.at("group_size"), -1, 1 << 20);
  IGNIS_CHECK(g == -1 || g > 0, "{}: field '{}' = {} must be positive or -1", c.file, c.at("group_size").path, g);
  s.group = g == -1 ? 0 : int(g);
  const std::string ver = lower(opt_string(qc, "version", c).value_or("gemm"));
  IGNIS_CHECK(ver == "gemm", "{}: field '{}': AWQ version '{}' is not supported (gemm; gemv, gemv_fast, exllama, "
              "marlin and ipex pack differently)", c.file, c.at("version").path, ver);
  s.zero_point = opt_bool(qc, "zero_point", c).value_or(true);
  IGNIS_CHECK(s.zero_point, "{}: field '{}' = false: AWQ without zero points is not supported", c.file,
              c.at("zero_point").path);
  q.ignore = string_list(qc, "modules_to_not_convert", c);
  q.ignore.push_back("lm_head");
  return q;
}

// AutoGPTQ / GPTQModel: {quant_method gptq, bits 4 | 8, group_size (-1: per channel), desc_act, sym,
// checkpoint_format gptq | gptq_v2, lm_head, modules_to_not_convert}.
QuantConfig parse_gptq(const Json& qc, const Ctx& c) {
  QuantConfig q;
  q.method = QuantConfig::Method::Gptq;
  LinearSpec& s = q.linear;
  s.layout = IntLayout::Gptq;
  const Json* b = member(qc, "bits");
  IGNIS_CHECK(b, "{}: missing required field '{}'", c.file, c.at("bits").path);
  s.bits = int(get_int(*b, c.at("bits"), 0, 64));
  IGNIS_CHECK(s.bits == 4 || s.bits == 8, "{}: field '{}': {}-bit GPTQ is not supported (4 or 8)", c.file,
              c.at("bits").path, s.bits);
  const Json* gs = member(qc, "group_size");
  IGNIS_CHECK(gs, "{}: missing required field '{}'", c.file, c.at("group_size").path);
  const int64_t g = get_int(*gs, c.at("group_size"), -1, 1 << 20);
  IGNIS_CHECK(g == -1 || g > 0, "{}: field '{}' = {} must be positive or -1", c.file, c.at("group_size").path, g);
  s.group = g == -1 ? 0 : int(g);
  s.act_order = opt_bool(qc, "desc_act", c).value_or(false);
  s.zero_point = true;  // GPTQ stores zero points even when sym (they are then 2^(bits-1))
  const std::string fmt = lower(opt_string(qc, "checkpoint_format", c).value_or("gptq"));
  IGNIS_CHECK(fmt == "gptq" || fmt == "gptq_v2", "{}: field '{}': checkpoint format '{}' is not supported (gptq or "
              "gptq_v2; marlin / bitblas / ipex repack the weights)", c.file, c.at("checkpoint_format").path, fmt);
  s.gptq_v2 = fmt == "gptq_v2";
  if (auto cf = opt_string(qc, "format", c))
    IGNIS_CHECK(lower(*cf) == "gptq" || lower(*cf) == "gptq_v2", "{}: field '{}': format '{}' is not supported (gptq)",
                c.file, c.at("format").path, *cf);
  (void)opt_bool(qc, "sym", c);  // checked for type; the zero points in the file say the rest
  q.ignore = string_list(qc, "modules_to_not_convert", c);
  if (!opt_bool(qc, "lm_head", c).value_or(false)) q.ignore.push_back("lm_head");
  return q;
}

}  // namespace

QuantConfig parse_quantization_config(const Json& qc, const std::string& file) {
  const Ctx c{file, "quantization_config"};
  need_object(qc, c);
  auto method = opt_string(qc, "quant_method", c);
  IGNIS_CHECK(method, "{}: missing required field 'quantization_config.quant_method'", file);
  QuantConfig q;
  if (*method == "compressed-tensors" || *method == "compressed_tensors") q = parse_compressed_tensors(qc, c);
  else if (*method == "modelopt") q = parse_modelopt(qc, c);
  else if (*method == "fp8") q = parse_fp8(qc, c);
  else if (lower(*method) == "awq") q = parse_awq(qc, c);
  else if (lower(*method) == "gptq") q = parse_gptq(qc, c);
  else
    IGNIS_FAIL("{}: field 'quantization_config.quant_method': quantization method '{}' is not supported "
               "(compressed-tensors, modelopt, fp8, awq, gptq{})", file, *method,
               lower(*method) == "exl2" ? "; ExLlamaV2's exl2 format is not" : "");
  q.source = file;
  return q;
}

QuantConfig parse_hf_quant_config(const Json& j, const std::string& file) {
  const Ctx top{file, ""};
  IGNIS_CHECK(j.is_object(), "{}: top level must be a JSON object, got {}", file, type_name(j));
  if (const Json* p = member(j, "producer")) {
    need_object(*p, top.at("producer"));
    if (auto name = opt_string(*p, "name", top.at("producer")))
      IGNIS_CHECK(lower(*name) == "modelopt", "{}: field 'producer.name': producer '{}' is not supported (modelopt)",
                  file, *name);
  }
  const Json* qz = member(j, "quantization");
  IGNIS_CHECK(qz, "{}: missing required field 'quantization'", file);
  QuantConfig q = parse_modelopt(*qz, top.at("quantization"));
  q.source = file;
  return q;
}

std::optional<QuantConfig> parse_quantization_method(const std::string& v) {
  if (v.empty() || v == "none") return std::nullopt;
  IGNIS_CHECK(v == "fp8" || v == "int8-wo" || v == "int4",
              "--quantization: unknown method '{}' (supported: fp8, int8-wo, int4, none)", v);
  QuantConfig q;
  q.method = QuantConfig::Method::OnLoad;
  q.source = "--quantization " + v;
  q.ignore = {"lm_head"};
  if (v != "fp8") {
    q.linear.bits = v == "int4" ? 4 : 8;
    q.linear.group = kOnLoadIntGroup;
    q.linear.zero_point = v == "int4";
    q.linear.layout = IntLayout::OnLoad;
    return q;
  }
  q.linear.weight = DType::F8_E4M3;
  q.linear.wscale = WeightScale::Channel;
  q.linear.act = ActScale::DynamicToken;
  q.ignore = {"lm_head"};
  q.source = "--quantization fp8";
  return q;
}

nlohmann::ordered_json compressed_tensors_config(const LinearSpec& spec, const std::vector<std::string>& ignore,
                                                 bool kv_fp8) {
  using OJ = nlohmann::ordered_json;
  IGNIS_CHECK(spec.fp8() && (spec.wscale == WeightScale::Tensor || spec.wscale == WeightScale::Channel) &&
                  (spec.act == ActScale::DynamicToken || spec.act == ActScale::StaticTensor),
              "compressed_tensors_config: {} cannot be written (weights per tensor or channel; input dynamic per "
              "token or static per tensor)", spec.describe());
  auto args = [](const char* strategy, bool dynamic, const char* observer) {
    OJ a = OJ::object();
    a["actorder"] = nullptr;
    a["block_structure"] = nullptr;
    a["dynamic"] = dynamic;
    a["group_size"] = nullptr;
    a["num_bits"] = 8;
    a["observer"] = observer ? OJ(observer) : OJ(nullptr);
    a["observer_kwargs"] = OJ::object();
    a["strategy"] = strategy;
    a["symmetric"] = true;
    a["type"] = "float";
    return a;
  };
  const bool dyn = spec.act == ActScale::DynamicToken;
  OJ group = OJ::object();
  group["format"] = "float-quantized";
  group["input_activations"] = dyn ? args("token", true, nullptr) : args("tensor", false, "minmax");
  group["output_activations"] = nullptr;
  group["targets"] = OJ::array({"Linear"});
  group["weights"] = args(spec.wscale == WeightScale::Channel ? "channel" : "tensor", false, "minmax");
  OJ q = OJ::object();
  q["config_groups"] = OJ::object({{"group_0", group}});
  q["format"] = "float-quantized";
  q["global_compression_ratio"] = nullptr;
  q["ignore"] = ignore;
  q["kv_cache_scheme"] = kv_fp8 ? args("tensor", false, "minmax") : OJ(nullptr);
  q["quant_method"] = "compressed-tensors";
  q["quantization_status"] = "compressed";
  q["sparsity_config"] = OJ::object();
  q["transform_config"] = OJ::object();
  return q;
}

}  // namespace ignis
