// LinearSpec descriptions and QuantConfig's module matching (ignore / targets lists).
#include "quant/scheme.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "core/error.h"

namespace ignis {

namespace {

std::string dense_name(DType t) {
  switch (t) {
    case DType::BF16: return "bf16";
    case DType::F16: return "fp16";
    case DType::F32: return "fp32";
    default: return std::string(dtype_name(t));
  }
}

// Glob over the whole string: '*' any run, '?' one character (iterative, no backtracking blow-up).
bool glob_match(const std::string& pat, const std::string& s) {
  size_t p = 0, i = 0, star = std::string::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && (pat[p] == '?' || pat[p] == s[i])) {
      ++p, ++i;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (star != std::string::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

struct Code {
  pcre2_code* code = nullptr;
  ~Code() { if (code) pcre2_code_free(code); }
};

// Compiles a "re:" body anchored at the start (Python re.match); throws naming `what`.
void compile(const std::string& re, const std::string& what, Code* out) {
  IGNIS_CHECK(re.size() <= 1024, "{}: regex '{}...' is longer than 1024 characters", what, re.substr(0, 40));
  int err = 0;
  PCRE2_SIZE off = 0;
  out->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(), PCRE2_ANCHORED | PCRE2_UTF, &err,
                            &off, nullptr);
  if (!out->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    IGNIS_FAIL("{}: invalid regex 're:{}' at offset {}: {}", what, re, size_t(off), reinterpret_cast<char*>(msg));
  }
}

bool regex_match(const std::string& re, const std::string& s) {
  Code c;
  compile(re, "module pattern", &c);
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
      pcre2_match_data_create_from_pattern(c.code, nullptr), &pcre2_match_data_free);
  std::unique_ptr<pcre2_match_context, void (*)(pcre2_match_context*)> mc(pcre2_match_context_create(nullptr),
                                                                          &pcre2_match_context_free);
  pcre2_set_match_limit(mc.get(), 100000);  // a hostile pattern fails to match instead of hanging
  pcre2_set_depth_limit(mc.get(), 1000);
  int rc = pcre2_match(c.code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md.get(), mc.get());
  return rc >= 0;
}

}  // namespace

const char* layout_name(IntLayout l) {
  switch (l) {
    case IntLayout::AwqGemm: return "awq gemm";
    case IntLayout::Gptq: return "gptq";
    case IntLayout::CtPacked: return "compressed-tensors pack-quantized";
    case IntLayout::OnLoad: return "round to nearest on load";
    case IntLayout::None: break;
  }
  return "unspecified layout";
}

std::string LinearSpec::describe() const {
  if (wint()) {
    std::string s = "int" + std::to_string(bits) + " (" + layout_name(layout) + ", ";
    s += group > 0 ? "group " + std::to_string(group) : std::string("per channel");
    s += zero_point ? ", zero points" : ", symmetric";
    if (act_order) s += ", act order";
    return s + ", weight-only)";
  }
  if (!fp8()) return dense_name(weight);
  std::string w;
  switch (wscale) {
    case WeightScale::None: w = "weight unscaled"; break;
    case WeightScale::Tensor: w = "weight per tensor"; break;
    case WeightScale::Channel: w = "weight per channel"; break;
    case WeightScale::Block: w = "weight per " + std::to_string(block_n) + "x" + std::to_string(block_k) + " block"; break;
  }
  std::string a;
  switch (act) {
    case ActScale::None: a = "input not quantized"; break;
    case ActScale::StaticTensor: a = "input static per tensor"; break;
    case ActScale::DynamicToken: a = "input dynamic per token"; break;
    case ActScale::DynamicGroup: a = "input dynamic per " + std::to_string(act_group) + "-group"; break;
  }
  return "fp8-e4m3 (" + w + ", " + a + ")";
}

const char* quant_method_name(QuantConfig::Method m) {
  switch (m) {
    case QuantConfig::Method::None: return "none";
    case QuantConfig::Method::CompressedTensors: return "compressed-tensors";
    case QuantConfig::Method::ModelOpt: return "modelopt";
    case QuantConfig::Method::Fp8: return "fp8";
    case QuantConfig::Method::OnLoad: return "on load";
    case QuantConfig::Method::Awq: return "awq";
    case QuantConfig::Method::Gptq: return "gptq";
  }
  return "?";
}

void check_module_pattern(const std::string& pattern, const std::string& what) {
  if (pattern.rfind("re:", 0) != 0) return;
  Code c;
  compile(pattern.substr(3), what, &c);
}

bool module_pattern_matches(const std::string& pattern, const std::string& module) {
  if (pattern.rfind("re:", 0) == 0) return regex_match(pattern.substr(3), module);
  if (pattern.find_first_of("*?") != std::string::npos) return glob_match(pattern, module);
  if (pattern.empty()) return false;
  if (module == pattern) return true;
  if (module.size() > pattern.size()) {
    if (module.compare(0, pattern.size(), pattern) == 0 && module[pattern.size()] == '.') return true;  // a parent
    const size_t at = module.size() - pattern.size();
    if (module.compare(at, pattern.size(), pattern) == 0 && module[at - 1] == '.') return true;  // a leaf name
  }
  return false;
}

bool QuantConfig::ignored(const std::string& module) const {
  for (const auto& p : ignore)
    if (module_pattern_matches(p, module)) return true;
  return false;
}

LinearSpec QuantConfig::spec_for(const std::string& module, DType dense) const {
  LinearSpec d;
  d.weight = dense;
  if (method == Method::None || !linear.quantized() || ignored(module)) return d;
  if (!targets.empty()) {
    bool hit = false;
    for (const auto& t : targets) hit = hit || t == "Linear" || module_pattern_matches(t, module);
    if (!hit) return d;
  }
  return linear;
}

std::string QuantConfig::weight_scale_name() const {
  return method == Method::Fp8 && linear.wscale == WeightScale::Block ? "weight_scale_inv" : "weight_scale";
}

}  // namespace ignis
