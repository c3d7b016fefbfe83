# Turns a file into a C++ source defining `std::string_view <FUNC>()` in namespace
# ignis::server, as a byte array (no raw-string delimiter can clash with the content).
#   cmake -DINPUT=web/index.html -DOUTPUT=web_index.cpp -DFUNC=web_index_html -P embed_file.cmake
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUTPUT}.tmp "// Generated from ${INPUT} by embed_file.cmake; do not edit.\n#include <string_view>\nnamespace ignis::server {\nstatic const unsigned char kData[] = {\n${bytes}0x00};\nstd::string_view ${FUNC}() { return std::string_view(reinterpret_cast<const char*>(kData), ${size}); }\n}  // namespace ignis::server\n")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
