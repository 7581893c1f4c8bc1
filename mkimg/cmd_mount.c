/* placeholder replaced below */
#include "cli.h"
int cmd_mount(int argc, char **argv) { cli_error("mount: not built yet"); return 1; }
int cmd_umount(int argc, char **argv) { cli_error("umount: not built yet"); return 1; }
