// Exceptions thrown by native code. The bindings turn them into JS errors:
// ArgumentError -> TypeError (bad input from JS), Error -> Error (backend failure).
#pragma once
#include <stdexcept>
#include <string>

namespace cgru {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ArgumentError : Error {
  using Error::Error;
};

}  // namespace cgru
