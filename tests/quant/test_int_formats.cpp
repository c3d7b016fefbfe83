// Integer weight-only checkpoints (AWQ gemm, GPTQ 4 / 8 bit with and without act order,
// compressed-tensors pack-quantized W4A16 / W8A16) written by int_writer (the test's own packers, not
// ignis') load as published and give exactly the logits of the dense model whose projections are the
// dequantized weights; the packed layouts bit for bit; --quantization int8-wo / int4; bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "fp8_writer.h"
#include "int_writer.h"
#include "model/cpu_model.h"
#include "model/linear_weights.h"
#include "model/safetensors.h"
#include "quant/config.h"
#include "quant/int_quant.h"
#include "runtime/model_loader.h"

namespace fs = std::filesystem;
using OJ = nlohmann::ordered_json;

namespace ignis {
namespace {

const fs::path kModels = fs::path(IGNIS_TEST_DATA_DIR) / "models";

std::vector<float> forward_all(Model& m, const std::vector<std::vector<int32_t>>& seqs) {
  const int bs = 16;
  int blocks = 0;
  for (auto& s : seqs) blocks += int(s.size() + bs - 1) / bs;
  m.init_kv_cache(blocks, bs);
  ForwardBatch b;
  int next = 0;
  for (auto& s : seqs) {
    std::vector<int32_t> table;
    for (size_t i = 0; i < s.size(); i += bs) table.push_back(next++);
    b.tokens.insert(b.tokens.end(), s.begin(), s.end());
    b.seqs.push_back({0, int32_t(s.size()), table, true});
  }
  std::vector<float> out;
  m.forward(b, out);
  return out;
}

LoadedModel load_cpu(const fs::path& dir, const std::string& quantization = "") {
  ModelLoadOptions o;
  o.device = "cpu";
  o.quantization = quantization;
  o.seed = 5;
  return load_model(dir, o);
}

std::vector<std::vector<int32_t>> seqs_for(int vocab) {
  return {test::random_tokens(19, vocab, 7), test::random_tokens(6, vocab, 8), test::random_tokens(3, vocab, 9)};
}

// ---- bit layouts ----

TEST(IntLayouts, AwqPacksOutputsInTheInterleavedOrder) {
  // outputs 0..7 of input column 0 hold codes 0..7: AutoAWQ puts output order[i] in nibble i
  // (order 0,2,4,6,1,3,5,7), so the word reads 7,5,3,1,6,4,2,0 from the top nibble down.
  std::vector<int> v(8);
  for (int i = 0; i < 8; ++i) v[size_t(i)] = i;
  const std::vector<int32_t> w = test::awq_pack_cols(v, 8, 1);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(uint32_t(w[0]), 0x75316420u);
  const int32_t zeros = int32_t(0x88888888u);
  const float scale[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  LinearSpec s;
  s.bits = 4;
  s.group = 0;
  s.zero_point = true;
  s.layout = IntLayout::AwqGemm;
  // k = 8 (one pack of inputs): replicate the column
  std::vector<int32_t> qw(8, w[0]);
  IntLinear q = unpack_awq(qw.data(), &zeros, scale, 8, 8, s);
  for (int r = 0; r < 8; ++r) {
    EXPECT_EQ(q.code(r, 0), r);
    EXPECT_EQ(q.zero_at(r, 0), 8);
    EXPECT_EQ(q.value(r, 3), float(r - 8));
  }
  // and back: pack_awq writes the same words
  const AwqTensors t = pack_awq(q);
  EXPECT_EQ(uint32_t(t.qweight[0]), 0x75316420u);
  EXPECT_EQ(uint32_t(t.qzeros[0]), 0x88888888u);
  EXPECT_EQ(t.scales[0], f32_to_f16(1.0f));
}

TEST(IntLayouts, GptqZerosCarryTheMinusOneOffsetAndWrap) {
  LinearSpec s;
  s.bits = 4;
  s.group = 0;
  s.zero_point = true;
  s.layout = IntLayout::Gptq;
  // n = 8 outputs, k = 8 inputs: one qweight row per output (packed along k), codes c of column c
  std::vector<int32_t> qw(8, int32_t(0x76543210u));
  const int32_t qz = int32_t(0xf7000007u);  // stored zeros: out0 7 -> 8, out6 7 -> 8, out7 15 -> 0 (wraps), others 0 -> 1
  std::vector<float> sc(8, 0.5f);
  IntLinear q = unpack_gptq(qw.data(), &qz, sc.data(), nullptr, 8, 8, s);
  EXPECT_EQ(q.code(3, 5), 5);
  EXPECT_EQ(q.zero_at(0, 0), 8);
  EXPECT_EQ(q.zero_at(1, 0), 1);
  EXPECT_EQ(q.zero_at(6, 0), 8);
  EXPECT_EQ(q.zero_at(7, 0), 0);
  EXPECT_EQ(q.value(0, 2), (2 - 8) * 0.5f);
  s.gptq_v2 = true;  // no offset
  IntLinear v2 = unpack_gptq(qw.data(), &qz, sc.data(), nullptr, 8, 8, s);
  EXPECT_EQ(v2.zero_at(0, 0), 7);
  EXPECT_EQ(v2.zero_at(7, 0), 15);
}

TEST(IntLayouts, CompressedTensorsZeroPointsPackAlongOutputs) {
  LinearSpec s;
  s.bits = 4;
  s.group = 8;
  s.zero_point = true;
  s.layout = IntLayout::CtPacked;
  // n = 9 outputs (zero points: ceil(9/8) = 2 rows), k = 16 (2 groups)
  std::vector<int32_t> wp(9 * 2, int32_t(0xfedcba98u));  // columns 0..7 of each word: codes 8..15
  std::vector<float> sc(9 * 2, 2.0f);
  std::vector<int32_t> zp = {int32_t(0x76543210u), int32_t(0x01234567u), 0x5, 0x9};  // [2, 2]
  IntLinear q = unpack_compressed(wp.data(), sc.data(), zp.data(), nullptr, 9, 16, s);
  EXPECT_EQ(q.code(0, 0), 8);
  EXPECT_EQ(q.code(4, 15), 15);
  EXPECT_EQ(q.zero_at(3, 0), 3);  // output 3, group 0: lane 3 of word (0, 0)
  EXPECT_EQ(q.zero_at(3, 1), 4);  // lane 3 of word (0, 1) = 0x01234567 -> 4
  EXPECT_EQ(q.zero_at(8, 0), 5);  // output 8: word row 1, lane 0
  EXPECT_EQ(q.zero_at(8, 1), 9);
  EXPECT_EQ(q.value(8, 9), (9 - 9) * 2.0f);
  IntLinear sym = unpack_compressed(wp.data(), sc.data(), nullptr, nullptr, 9, 16, s);
  EXPECT_EQ(sym.value(0, 0), 0.0f);  // code 8 - offset 8
}

TEST(IntLayouts, GIdxMustBeAPermutationOfGroups) {
  LinearSpec s;
  s.bits = 8;
  s.group = 4;
  s.layout = IntLayout::Gptq;
  s.zero_point = true;
  s.act_order = true;
  IntLinear q;
  q.spec = s;
  q.n = 4;
  q.k = 8;
  q.qweight.assign(8, 0);
  q.scale.assign(8, 1.0f);
  q.g_idx = {0, 1, 0, 1, 0, 1, 0, 1};
  EXPECT_NO_THROW(check_int_linear(q, "t"));
  q.g_idx = {0, 0, 0, 1, 0, 0, 1, 1};  // group 0 has 5 columns
  try {
    check_int_linear(q, "t");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a permutation of groups"), std::string::npos) << e.what();
  }
  q.g_idx = {0, 1, 0, 1, 0, 1, 0, 2};
  EXPECT_THROW(check_int_linear(q, "t"), Error);
  q.g_idx = {0, 1, 0, 1, 0, 1, 0, -1};
  EXPECT_THROW(check_int_linear(q, "t"), Error);
}

// ---- round to nearest ----

TEST(IntRtn, AsymmetricAndSymmetricFollowTheDocumentedFormulas) {
  const int64_t n = 3, k = 64;
  std::vector<float> w(size_t(n * k));
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(float(i) * 0.37f) * (1.0f + float(i % 7));
  for (bool asym : {true, false}) {
    LinearSpec s;
    s.bits = asym ? 4 : 8;
    s.group = 32;
    s.zero_point = asym;
    s.layout = IntLayout::OnLoad;
    IntLinear q = quantize_weight_int(w.data(), n, k, s);
    check_int_linear(q, "rtn");
    for (int64_t r = 0; r < n; ++r)
      for (int64_t g = 0; g < 2; ++g) {
        float mn = INFINITY, mx = -INFINITY;
        for (int64_t c = g * 32; c < g * 32 + 32; ++c) mn = std::min(mn, w[size_t(r * k + c)]), mx = std::max(mx, w[size_t(r * k + c)]);
        const float s_want = asym ? f16_to_f32(f32_to_f16((mx - mn) / 15.0f))
                                  : f16_to_f32(f32_to_f16(std::max(-mn, mx) / 127.0f));
        EXPECT_EQ(q.scale_at(r, g), s_want);
        for (int64_t c = g * 32; c < g * 32 + 32; ++c)  // within half a step, but for the clamped ends
          EXPECT_LE(std::fabs(q.value(r, c) - w[size_t(r * k + c)]), 0.5f * s_want * 1.001f + (asym ? s_want : 0));
      }
    // the dense-typed overload agrees with the fp32 one
    IntLinear q2 = quantize_weight_int(DType::F32, w.data(), n, k, s);
    EXPECT_EQ(q2.qweight, q.qweight);
    EXPECT_EQ(q2.scale, q.scale);
    EXPECT_EQ(q2.zero, q.zero);
  }
}

// ---- tiny models in every format ----

class IntFormats : public ::testing::TestWithParam<test::IntFormat> {};

TEST_P(IntFormats, TinyModelsGiveTheLogitsOfTheDequantizedDenseModel) {
  const test::IntFormat f = GetParam();
  for (const char* base : {"llama", "qwen2", "llama_bias_tied"}) {
    SCOPED_TRACE(std::string(base) + " as " + test::int_format_name(f));
    test::TempDir dir(std::string("intfmt_") + base);
    test::IntReference ref = test::write_int_folder(kModels / base, dir.path(), f);
    LoadedModel lm = load_cpu(dir.path());
    ASSERT_TRUE(lm.model->config().quant.quantized());
    ASSERT_TRUE(lm.model->config().quant.linear.wint());
    CpuModel dense(ref.dense_cfg, ref.dequant);
    const auto seqs = seqs_for(ref.dense_cfg.vocab_size);
    const std::vector<float> got = forward_all(*lm.model, seqs), want = forward_all(dense, seqs);
    ASSERT_EQ(got.size(), want.size());
    size_t diff = 0;
    for (size_t i = 0; i < got.size(); ++i) diff += got[i] != want[i];
    EXPECT_EQ(diff, 0u) << "logits differ from the dense model over the dequantized weights";
    // and the dequantized projections themselves, exactly
    const ModelConfig& c = lm.model->config();
    WeightStore ws = WeightStore::load(dir.path(), c, LoadFormat::Safetensors);
    const LayerLinears mods = layer_linears(1);
    const HostLinear h = load_linear(ws, c, mods.qkv, c.hidden_size);
    std::vector<float> deq(size_t(h.n * h.k));
    dequantize_int(h.wq, deq.data());
    size_t off = 0, bad = 0;
    for (const std::string& m : mods.qkv) {
      const TensorRef& t = ref.dequant.get(m + ".weight");
      const auto* p = static_cast<const float*>(t.data);
      for (int64_t i = 0; i < t.numel(); ++i) bad += deq[off + size_t(i)] != p[i];
      off += size_t(t.numel());
    }
    EXPECT_EQ(off, deq.size());
    EXPECT_EQ(bad, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(All, IntFormats, ::testing::ValuesIn(test::all_int_formats()),
                         [](const auto& info) { return std::string(test::int_format_name(info.param)); });

TEST(IntFormats, ActOrderSurvivesFusionAndTrivialGIdxIsDropped) {
  test::TempDir dir("intfmt_act");
  test::write_int_folder(kModels / "llama", dir.path(), test::IntFormat::GptqAsym4Act);
  ModelConfig c = load_model_config(dir.path());
  WeightStore ws = WeightStore::load(dir.path(), c, LoadFormat::Safetensors);
  const HostLinear h = load_linear(ws, c, layer_linears(0).qkv, c.hidden_size);
  EXPECT_TRUE(h.spec.act_order);
  EXPECT_EQ(h.wq.g_idx.size(), size_t(c.hidden_size));
  test::TempDir d2("intfmt_sym");
  test::write_int_folder(kModels / "llama", d2.path(), test::IntFormat::GptqSym4);
  ModelConfig c2 = load_model_config(d2.path());
  WeightStore ws2 = WeightStore::load(d2.path(), c2, LoadFormat::Safetensors);
  const HostLinear h2 = load_linear(ws2, c2, layer_linears(0).qkv, c2.hidden_size);
  EXPECT_FALSE(h2.spec.act_order);
  EXPECT_TRUE(h2.wq.g_idx.empty());
  EXPECT_EQ(h2.wq.zero_at(0, 0), 8);  // sym GPTQ stores 7 = 8 - 1
}

TEST(IntFormats, DummyWeightsWorkWithIntegerConfigs) {
  for (test::IntFormat f : test::all_int_formats()) {
    SCOPED_TRACE(test::int_format_name(f));
    test::TempDir dir("intfmt_dummy");
    test::write_int_folder(kModels / "llama", dir.path(), f);
    ModelConfig c = load_model_config(dir.path());
    WeightStore ws = WeightStore::load(dir.path(), c, LoadFormat::Dummy, 3);
    CpuModel m(c, ws);
    const std::vector<float> out = forward_all(m, {test::random_tokens(5, c.vocab_size, 1)});
    for (float x : out) ASSERT_TRUE(std::isfinite(x));
  }
}

// ---- --quantization int8-wo / int4 ----

TEST(IntOnLoad, RoundToNearestAtLoadMatchesQuantizeWeightInt) {
  const fs::path base = kModels / "llama";
  LoadedModel dense = load_cpu(base);
  const auto seqs = seqs_for(dense.model->config().vocab_size);
  const std::vector<float> ref = forward_all(*dense.model, seqs);
  double err[2];
  int i = 0;
  for (const char* flag : {"int8-wo", "int4"}) {
    SCOPED_TRACE(flag);
    LoadedModel lm = load_cpu(base, flag);
    const ModelConfig& c = lm.model->config();
    EXPECT_EQ(c.quant.method, QuantConfig::Method::OnLoad);
    WeightStore ws = WeightStore::load(base, c, LoadFormat::Safetensors);
    const HostLinear h = load_linear(ws, c, layer_linears(0).down, c.intermediate_size);  // k = 96: group 32
    EXPECT_EQ(h.spec.group, 32);
    EXPECT_EQ(h.spec.bits, std::string(flag) == "int4" ? 4 : 8);
    const TensorRef& t = ws.get("model.layers.0.mlp.down_proj.weight");
    LinearSpec s = c.quant.linear;
    s.group = 32;
    const IntLinear q = quantize_weight_int(t.dtype, t.data, t.shape[0], t.shape[1], s);
    EXPECT_EQ(h.wq.qweight, q.qweight);
    EXPECT_EQ(h.wq.scale, q.scale);
    EXPECT_EQ(load_linear(ws, c, layer_linears(0).qkv, c.hidden_size).spec.group, 64);  // k = 64
    const std::vector<float> got = forward_all(*lm.model, seqs);
    err[i++] = test::rel_err(got.data(), ref.data(), got.size());
  }
  EXPECT_LT(err[0], 0.02);
  EXPECT_LT(err[0], err[1]);
  EXPECT_LT(err[1], 0.5);
  EXPECT_EQ(on_load_int_group(192), 64);
  EXPECT_EQ(on_load_int_group(1024), 128);
  EXPECT_EQ(on_load_int_group(40), 0);
  EXPECT_THROW(parse_quantization_method("int3"), Error);
}

// ---- bad input ----

// Rewrites dir/model.safetensors through `edit` (tensors by name).
void rewrite(const fs::path& dir, const std::function<void(std::vector<SafetensorsWriteTensor>&)>& edit) {
  std::vector<SafetensorsWriteTensor> ts;
  {
    SafetensorsFile f((dir / "model.safetensors").string());
    for (const auto& e : f.header().tensors) {
      const uint8_t* p = f.tensor_data(e);
      ts.push_back({e.name, e.dtype, e.shape, std::vector<uint8_t>(p, p + (e.end - e.begin))});
    }
  }
  edit(ts);
  write_safetensors((dir / "model.safetensors").string(), ts, {{"format", "pt"}});
}

SafetensorsWriteTensor& tensor(std::vector<SafetensorsWriteTensor>& ts, const std::string& name) {
  for (auto& t : ts)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

void edit_config(const fs::path& dir, const std::function<void(OJ&)>& edit) {
  std::ifstream in(dir / "config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  OJ j = OJ::parse(ss.str());
  edit(j["quantization_config"]);
  std::ofstream(dir / "config.json") << j.dump(2);
}

// Loading dir fails with an Error whose message holds every one of `parts`.
void expect_load_error(const fs::path& dir, const std::vector<std::string>& parts) {
  try {
    LoadedModel lm = load_cpu(dir);
    ADD_FAILURE() << "loaded without error";
  } catch (const Error& e) {
    for (auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(IntBadInput, MisShapedTruncatedAndInconsistentTensorsAreClearErrors) {
  const std::string q = "model.layers.0.self_attn.q_proj";
  struct Case {
    test::IntFormat f;
    std::string tensor;
    std::function<void(SafetensorsWriteTensor&)> edit;
    std::vector<std::string> want;
  };
  auto drop_row = [](SafetensorsWriteTensor& t) {  // one row less: a truncated tensor
    t.bytes.resize(t.bytes.size() - t.bytes.size() / size_t(t.shape[0]));
    t.shape[0] -= 1;
  };
  auto swap_dims = [](SafetensorsWriteTensor& t) { std::swap(t.shape[0], t.shape[1]); };
  auto to_f32_dtype = [](SafetensorsWriteTensor& t) { t.dtype = DType::F32; };
  const std::vector<Case> cases = {
      {test::IntFormat::Awq, q + ".qweight", drop_row, {q + ".qweight", "shape"}},
      {test::IntFormat::Awq, q + ".qzeros", swap_dims, {q + ".qzeros", "shape"}},
      {test::IntFormat::Awq, q + ".scales", drop_row, {q + ".scales", "shape"}},
      {test::IntFormat::Awq, q + ".qweight", to_f32_dtype, {q + ".qweight", "I32"}},
      {test::IntFormat::GptqAsym4Act, q + ".qweight", swap_dims, {q + ".qweight", "shape"}},
      {test::IntFormat::GptqAsym4Act, q + ".qzeros", drop_row, {q + ".qzeros", "shape"}},
      {test::IntFormat::GptqAsym4Act, q + ".g_idx",
       [](SafetensorsWriteTensor& t) { std::memset(t.bytes.data(), 0, 4 * 8); }, {"not a permutation of groups"}},
      {test::IntFormat::GptqAsym4Act, q + ".g_idx",
       [](SafetensorsWriteTensor& t) { int32_t v = 7; std::memcpy(t.bytes.data(), &v, 4); }, {"g_idx [0] = 7"}},
      {test::IntFormat::CtW4Asym, q + ".weight_packed", drop_row, {q + ".weight_packed", "shape"}},
      {test::IntFormat::CtW4Asym, q + ".weight_zero_point", swap_dims, {q + ".weight_zero_point", "shape"}},
      {test::IntFormat::CtW4Asym, q + ".weight_scale", swap_dims, {q + ".weight_scale", "shape"}},
      {test::IntFormat::CtW4Asym, q + ".weight_shape",
       [](SafetensorsWriteTensor& t) { int64_t v = 7; std::memcpy(t.bytes.data(), &v, 8); }, {q + ".weight_shape"}},
      {test::IntFormat::CtW4Asym, q + ".weight_scale",
       [](SafetensorsWriteTensor& t) { uint16_t nan = 0x7fc0; std::memcpy(t.bytes.data(), &nan, 2); }, {"not finite"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(test::int_format_name(c.f)) + " " + c.tensor);
    test::TempDir dir("intbad");
    test::write_int_folder(kModels / "llama", dir.path(), c.f);
    rewrite(dir.path(), [&](std::vector<SafetensorsWriteTensor>& ts) { c.edit(tensor(ts, c.tensor)); });
    expect_load_error(dir.path(), c.want);
  }
  {  // a missing tensor
    test::TempDir dir("intbad_missing");
    test::write_int_folder(kModels / "llama", dir.path(), test::IntFormat::GptqSym4);
    rewrite(dir.path(), [&](std::vector<SafetensorsWriteTensor>& ts) {
      ts.erase(std::find_if(ts.begin(), ts.end(), [&](auto& t) { return t.name == q + ".qzeros"; }));
    });
    expect_load_error(dir.path(), {q + ".qzeros"});
  }
}

TEST(IntBadInput, UnsupportedConfigsNameTheField) {
  struct Case {
    test::IntFormat f;
    std::function<void(OJ&)> edit;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {test::IntFormat::Awq, [](OJ& q) { q["group_size"] = 48; }, {"group_size 48 does not divide", "64"}},
      {test::IntFormat::Awq, [](OJ& q) { q["bits"] = 3; }, {"quantization_config.bits", "3-bit"}},
      {test::IntFormat::Awq, [](OJ& q) { q["version"] = "gemv"; }, {"quantization_config.version", "gemv"}},
      {test::IntFormat::Awq, [](OJ& q) { q["zero_point"] = false; }, {"quantization_config.zero_point"}},
      {test::IntFormat::GptqSym4, [](OJ& q) { q["bits"] = 3; }, {"quantization_config.bits"}},
      {test::IntFormat::GptqSym4, [](OJ& q) { q["checkpoint_format"] = "marlin"; },
       {"quantization_config.checkpoint_format", "marlin"}},
      {test::IntFormat::GptqSym4, [](OJ& q) { q["quant_method"] = "exl2"; }, {"quant_method", "exl2"}},
      {test::IntFormat::CtW4Asym, [](OJ& q) { q["format"] = "int-quantized"; }, {"quantization_config.format"}},
      {test::IntFormat::CtW4Asym,
       [](OJ& q) { q["config_groups"]["group_0"]["weights"]["num_bits"] = 2; },
       {"quantization_config.config_groups.group_0.weights.num_bits"}},
      {test::IntFormat::CtW4Asym,
       [](OJ& q) { q["config_groups"]["group_0"]["weights"]["strategy"] = "tensor"; },
       {"quantization_config.config_groups.group_0.weights.strategy"}},
      {test::IntFormat::CtW4Asym,
       [](OJ& q) {
         q["config_groups"]["group_0"]["input_activations"] =
             OJ{{"num_bits", 8}, {"type", "int"}, {"strategy", "token"}, {"dynamic", true}};
       },
       {"quantization_config.config_groups.group_0.input_activations"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(test::int_format_name(c.f));
    test::TempDir dir("intbadcfg");
    test::write_int_folder(kModels / "llama", dir.path(), c.f);
    edit_config(dir.path(), c.edit);
    expect_load_error(dir.path(), c.want);
  }
}

}  // namespace
}  // namespace ignis
