// `ignis quantize --model DIR --out DIR --method fp8 [--kv-cache-dtype fp8] [--scheme dynamic|static]
//  [--calib-data FILE --calib-size 512 --calib-seq-len 512] [--device cpu]`: writes an FP8 compressed-
// tensors folder (model/quantize_checkpoint.h). `--method awq --calib-data FILE [--group-size 128]
// [--awq-grid 20] [--calib-rows 512]`: an AutoAWQ gemm int4 folder (model/awq_quantize.h). Static input scales and KV scales come from running
// the model over calibration samples: a text file (tokenized with the folder's tokenizer.json and cut
// into windows of --calib-seq-len tokens) or JSONL, one sample per line, {"text": ...} or
// {"input_ids": [...]} (token ids need no tokenizer).
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "command.h"
#include "core/error.h"
#include "model/cpu_model.h"
#include "model/json_util.h"
#include "model/awq_quantize.h"
#include "model/quantize_checkpoint.h"
#include "tokenizer/tokenizer.h"

namespace ignis::cli {
namespace {

namespace fs = std::filesystem;

std::vector<std::vector<int32_t>> read_calibration(const std::string& file, const std::string& model_dir, int size,
                                                   int seq_len, int vocab) {
  std::ifstream f(file, std::ios::binary);
  IGNIS_CHECK(f.good(), "{}: cannot open the calibration data", file);
  std::unique_ptr<Tokenizer> tok;
  auto tokenizer = [&]() -> const Tokenizer& {
    if (!tok) {
      IGNIS_CHECK(fs::exists(fs::path(model_dir) / "tokenizer.json"),
                  "{}: calibration text needs the model's tokenizer.json (or give token ids as JSONL lines "
                  "{{\"input_ids\": [...]}})", file);
      tok = Tokenizer::load(model_dir);
    }
    return *tok;
  };
  std::vector<std::vector<int32_t>> out;
  const bool jsonl = fs::path(file).extension() == ".jsonl";
  if (jsonl) {
    std::string line;
    for (int no = 1; std::getline(f, line) && int(out.size()) < size; ++no) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = fmt::format("{} line {}", file, no);
      jsonf::Json j = jsonf::parse(line, where);
      std::vector<int32_t> ids;
      if (j.is_string()) {
        ids = tokenizer().encode(j.get<std::string>(), true);
      } else if (const jsonf::Json* t = jsonf::find(j, "input_ids")) {
        IGNIS_CHECK(t->is_array(), "{}: field 'input_ids' must be an array of token ids", where);
        for (size_t i = 0; i < t->size(); ++i)
          ids.push_back(int32_t(jsonf::get_int((*t)[i], where, fmt::format("input_ids[{}]", i), 0, vocab - 1)));
      } else if (auto text = jsonf::opt_string(j, "text", where)) {
        ids = tokenizer().encode(*text, true);
      } else {
        IGNIS_FAIL("{}: expected a JSON string, {{\"text\": ...}} or {{\"input_ids\": [...]}}", where);
      }
      if (int(ids.size()) > seq_len) ids.resize(size_t(seq_len));
      if (ids.size() >= 2) out.push_back(std::move(ids));
    }
  } else {
    std::stringstream ss;
    ss << f.rdbuf();
    std::vector<int32_t> ids = tokenizer().encode(ss.str(), false);
    for (size_t at = 0; at + 2 <= ids.size() && int(out.size()) < size; at += size_t(seq_len))
      out.emplace_back(ids.begin() + long(at), ids.begin() + long(std::min(ids.size(), at + size_t(seq_len))));
  }
  IGNIS_CHECK(!out.empty(), "{}: no calibration samples of at least 2 tokens", file);
  for (auto& s : out)
    for (int32_t t : s)
      IGNIS_CHECK(t >= 0 && t < vocab, "{}: token id {} is outside the model's vocabulary ({})", file, t, vocab);
  return out;
}

int run_quantize(int argc, char** argv) {
  CLI::App app{"Quantize a bf16/fp16/fp32 model folder to an FP8 compressed-tensors or an int4 AWQ folder",
               "ignis quantize"};
  std::string model, out, method = "fp8", kv = "bf16", scheme = "dynamic", calib_data, device = "cpu";
  int calib_size = 512, calib_seq_len = 512, group_size = 128, awq_grid = 20, calib_rows = 512;
  bool lm_head = false, no_progress = false;
  int64_t max_shard = int64_t(5) << 30;
  app.add_option("--model", model, "Hugging Face model folder (bf16, fp16 or fp32 safetensors)")->required();
  app.add_option("--out", out, "output folder (created; must not exist or be empty)")->required();
  app.add_option("--method", method, "fp8: e4m3 weights with per-channel scales | awq: int4 weight-only, "
                 "activation-aware scales searched on --calib-data, AutoAWQ gemm layout")
      ->check(CLI::IsMember({"fp8", "awq"}));
  app.add_option("--group-size", group_size, "awq: input channels per scale / zero point")->check(CLI::Range(8, 1 << 16));
  app.add_option("--awq-grid", awq_grid, "awq: alphas tried in [0, 1)")->check(CLI::Range(1, 1000));
  app.add_option("--calib-rows", calib_rows, "awq: calibration rows kept per projection for the scale search")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--kv-cache-dtype", kv, "fp8: also write per-layer K/V scales from calibration | bf16 (none)")
      ->check(CLI::IsMember({"fp8", "bf16", "auto"}));
  app.add_option("--scheme", scheme, "input activations: dynamic (per token, at run time) | static (per tensor, "
                 "calibrated)")->check(CLI::IsMember({"dynamic", "static"}));
  app.add_option("--calib-data", calib_data, "calibration text file, or JSONL of {\"text\"} / {\"input_ids\"}")
      ->check(CLI::ExistingFile);
  app.add_option("--calib-size", calib_size, "calibration samples")->check(CLI::Range(1, 1 << 20));
  app.add_option("--calib-seq-len", calib_seq_len, "tokens per calibration sample")->check(CLI::Range(2, 1 << 20));
  app.add_option("--device", device, "calibration backend: cpu (cuda: not yet)")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_flag("--quantize-lm-head", lm_head, "quantize lm_head too (default: kept dense, listed in ignore)");
  app.add_option("--max-shard-size", max_shard, "bytes per safetensors shard for a single-file input")
      ->check(CLI::Range(int64_t(1) << 10, int64_t(1) << 42));
  app.add_flag("--no-progress", no_progress, "no progress bars on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (method == "awq") {
    IGNIS_CHECK(!calib_data.empty(), "--method awq needs --calib-data FILE (the activations the scales are searched on)");
    IGNIS_CHECK(device == "cpu", "--device cuda: AWQ calibration runs on the CPU backend only for now");
    IGNIS_CHECK(kv != "fp8", "--method awq: --kv-cache-dtype fp8 is not written with AWQ weights");
    ModelConfig cfg = load_model_config(model);
    IGNIS_CHECK(!cfg.quant.quantized(), "{}: the checkpoint is quantized already ({}, {})", model,
                quant_method_name(cfg.quant.method), cfg.quant.source);
    WeightStore ws = WeightStore::load(model, cfg, LoadFormat::Safetensors);
    auto samples = read_calibration(calib_data, model, calib_size, calib_seq_len, cfg.vocab_size);
    AwqOptions ao;
    ao.group_size = group_size;
    ao.grid = awq_grid;
    ao.max_rows = calib_rows;
    ao.progress = !no_progress;
    AwqActivations act;
    {
      CpuModel m(cfg, ws);
      act = collect_awq_activations(m, samples, calib_rows, ao.progress);
    }
    const AwqReport r = write_awq_checkpoint(model, out, cfg, ws, act, ao);
    std::fprintf(stderr, "wrote %s: int4 awq gemm, group %d, lm_head dense; projection output error %.4g (rtn %.4g) "
                 "over %d groups\n", out.c_str(), group_size, r.loss, r.loss_rtn, r.groups);
    return 0;
  }
  QuantizeCheckpointOptions opt;
  opt.act = scheme == "static" ? ActScale::StaticTensor : ActScale::DynamicToken;
  opt.kv_fp8 = kv == "fp8";
  opt.quantize_lm_head = lm_head;
  opt.max_shard_bytes = max_shard;
  opt.progress = !no_progress;
  ModelConfig cfg = load_model_config(model);
  IGNIS_CHECK(!cfg.quant.quantized(), "{}: the checkpoint is quantized already ({}, {})", model,
              quant_method_name(cfg.quant.method), cfg.quant.source);
  WeightStore ws = WeightStore::load(model, cfg, LoadFormat::Safetensors);
  const bool need_calib = opt.act == ActScale::StaticTensor || opt.kv_fp8;
  std::optional<Calibration> calib;
  if (need_calib) {
    IGNIS_CHECK(!calib_data.empty(), "--scheme static and --kv-cache-dtype fp8 need --calib-data FILE");
    IGNIS_CHECK(device == "cpu", "--device cuda: calibration runs on the CPU backend only for now (the CUDA model "
                "does not implement set_calibration_observer yet)");
    auto samples = read_calibration(calib_data, model, calib_size, calib_seq_len, cfg.vocab_size);
    CpuModel m(cfg, ws);  // the dense model: scales are observed before any FP8 rounding
    calib = calibrate(m, samples, opt.progress);
    std::fprintf(stderr, "calibrated on %lld samples, %lld tokens\n", static_cast<long long>(calib->samples),
                 static_cast<long long>(calib->tokens));
  }
  write_fp8_checkpoint(model, out, cfg, ws, opt, calib ? &*calib : nullptr);
  std::fprintf(stderr, "wrote %s: %s, lm_head %s%s\n", out.c_str(), quantize_spec(opt).describe().c_str(),
               lm_head && !cfg.tie_word_embeddings ? "fp8" : "dense", opt.kv_fp8 ? ", FP8 KV scales" : "");
  return 0;
}

}  // namespace
}  // namespace ignis::cli

IGNIS_COMMAND(quantize, "write an FP8 (compressed-tensors) or int4 AWQ copy of a model folder, calibrated on sample text",
              ignis::cli::run_quantize);
