// ignis server: the endpoint handlers (called by Server::handle after routing,
// authentication and JSON parsing). They throw ApiError for bad input.
#pragma once
#include <string>

#include "server/generation.h"

namespace ignis::server {

// OpenAI (openai.cpp).
void handle_completions(ServerContext& ctx, const json& body, HttpResponder& res);
void handle_chat(ServerContext& ctx, const json& body, HttpResponder& res);
void handle_models(ServerContext& ctx, HttpResponder& res);

// Triton / TensorRT-LLM backend (triton.cpp). Errors are {"error": "..."}.
void handle_triton_generate(ServerContext& ctx, const json& body, HttpResponder& res, const std::string& model_name,
                            bool stream_endpoint);
void handle_triton_model(ServerContext& ctx, HttpResponder& res, const std::string& model_name);
std::string triton_error_body(const std::string& message);
// The same URLs in text-generation-inference's form {"inputs", "parameters", "stream"} (tgi.cpp),
// answered in TGI's schema ({"generated_text", "details"}; SSE token events when streaming).
void handle_tgi_generate(ServerContext& ctx, const json& body, HttpResponder& res, bool stream_endpoint);

}  // namespace ignis::server
