#include "shared/aead.h"
