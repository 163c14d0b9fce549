/* placeholder: implemented in a later commit */
#include "voepy/err.h"
