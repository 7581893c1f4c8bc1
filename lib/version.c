/* SPDX-License-Identifier: Apache-2.0 */
/* The version of the library itself (include/mkimg/version.h). */
#include "mkimg/version.h"

unsigned int mkimg_version(void)
{
	return MKIMG_VERSION_NUMBER;
}

const char *mkimg_version_string(void)
{
	return MKIMG_VERSION_STRING;
}
