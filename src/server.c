#include "server.h"

#include <microhttpd.h>

const char *fr_server_mhd_version(void)
{
	return MHD_get_version();
}
