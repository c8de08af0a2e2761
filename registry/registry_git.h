/* registry_git.h - private to the registry module: the manifests directory as a git
 * work tree, through the git CLI (registry_git.c). */
#ifndef REGVAULT_REGISTRY_GIT_H
#define REGVAULT_REGISTRY_GIT_H

#include "common/common.h"

/* The commit checked out in the work tree holding dir (40 hex digits, malloc'd),
 * or *commit NULL when dir is in none or git is not installed. Returns 0; a
 * negative errno only when cancelled. */
int registry_git_head(const char *dir, const struct rv_cancel *cancel, char **commit);

/* Fetch branch from remote and fast-forward the work tree to it: never a merge
 * commit, never a reset. Refused (-EBUSY) when the work tree is on another branch
 * or has diverged; then the checkout is left as it was. 0, or a negative errno
 * with a sentence. */
int registry_git_update(const char *dir, const char *remote, const char *branch, const struct rv_cancel *cancel);

#endif
