#include "shared/shm_region.h"
