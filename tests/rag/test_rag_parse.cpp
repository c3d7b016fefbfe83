#include <gtest/gtest.h>
#include "rag/document.h"
TEST(RagParse, Dummy) {}
