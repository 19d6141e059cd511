#include "shared/table.h"
