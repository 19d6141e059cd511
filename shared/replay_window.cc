#include "shared/replay_window.h"
