/* restore.h - the restore module: coordinated restore of every member from one
 * artifact, with rollback, and drills into a scratch cluster. */
#ifndef REGVAULT_RESTORE_H
#define REGVAULT_RESTORE_H

#include "maint/maint.h"
#include "snapshot/snapshot.h"

#endif
