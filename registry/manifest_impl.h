/* manifest_impl.h - private to the registry module's manifest files
 * (capability_manifest.c, manifest_dir.c). */
#ifndef REGVAULT_MANIFEST_IMPL_H
#define REGVAULT_MANIFEST_IMPL_H

/* A manifest's default namespace: its file's base name without .yaml or .yml
 * (malloc'd; not checked to be a namespace). */
char *manifest_default_namespace(const char *file);

#endif
