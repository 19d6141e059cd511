#include "shared/config.h"
