# ignis: the two commands of the quick start are `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
IGNIS = $(BUILD)/bin/ignis
DEMO_MODEL ?= models/demo

.PHONY: all setup assets configure build test test-cpu demo fuzz clean

all: build

setup:
	@bash scripts/setup.sh

assets: setup
	@bash scripts/fetch-assets.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: setup configure
	cmake --build $(BUILD) -j $(JOBS)

test: setup assets build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

demo: setup assets build
	@bash scripts/demo.sh $(IGNIS) $(DEMO_MODEL)

fuzz: setup
	bash scripts/fuzz.sh

clean:
	rm -rf $(BUILD)
