#include "store.h"

#include <sqlite3.h>

const char *fr_store_sqlite_version(void)
{
	return sqlite3_libversion();
}
