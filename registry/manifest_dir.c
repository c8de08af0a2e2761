/* manifest_dir.c - a directory of capability manifests: every *.yaml and *.yml
 * file read and parsed (capability_manifest.c), sorted by namespace, the invalid
 * ones and the namespaces given twice reported as problems. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "registry/registry.h"
#include "registry/manifest_impl.h"

#define MANIFEST_MAX_BYTES (1024 * 1024)

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_cap(const void *a, const void *b)
{
	const struct capability *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->file, y->file);
}

static int cmp_problem(const void *a, const void *b)
{
	const struct manifest_problem *x = a, *y = b;
	int c = strcmp(x->file, y->file);
	return c ? c : (x->line > y->line) - (x->line < y->line);
}

static void add_problem(struct manifest_set *s, size_t *cap, struct manifest_problem *pr)
{
	if (s->n_problems == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		s->problems = rv_xrealloc(s->problems, *cap * sizeof *s->problems);
	}
	s->problems[s->n_problems++] = *pr;
}

static bool manifest_name(const char *name)
{
	return name[0] != '.' && (rv_str_has_suffix(name, ".yaml") || rv_str_has_suffix(name, ".yml"));
}

/* Read dir's manifest file names, sorted. */
static int list_dir(const char *dir, struct manifest_set *s, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	size_t cap = 0;
	*names = NULL;
	*n = 0;
	if (!d) {
		s->dir_err = -errno;
		snprintf(s->dir_msg, sizeof s->dir_msg, "cannot read the manifests directory %s: %s", dir,
			 strerror(errno));
		return 0;
	}
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d))) {
		if (!manifest_name(e->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*names = rv_xrealloc(*names, cap * sizeof **names);
		}
		(*names)[(*n)++] = rv_strdup(e->d_name);
		errno = 0;
	}
	if (errno) {
		s->dir_err = -errno;
		snprintf(s->dir_msg, sizeof s->dir_msg, "cannot read the manifests directory %s: %s", dir,
			 strerror(errno));
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof **names, cmp_str);
	return 0;
}

static void load_one(const char *dir, const char *name, struct manifest_set *s, size_t *caps_cap,
		     size_t *probs_cap)
{
	char *path = NULL;
	if (asprintf(&path, "%s%s%s", dir, rv_str_has_suffix(dir, "/") ? "" : "/", name) < 0)
		abort();
	struct manifest_problem pr = {0};
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int r;
	if (stat(path, &st) < 0) {
		pr.what = rv_strdup(strerror(errno));
		goto bad;
	}
	if (!S_ISREG(st.st_mode)) {
		pr.what = rv_strdup("not a regular file");
		goto bad;
	}
	if ((r = rv_read_file(path, &text, &len, MANIFEST_MAX_BYTES)) < 0) {
		if (asprintf(&pr.what, "%s",
			     r == -EFBIG ? "larger than 1 MiB, which no manifest is" : strerror(-r)) < 0)
			abort();
		goto bad;
	}
	if (s->n_caps == *caps_cap) {
		*caps_cap = *caps_cap ? *caps_cap * 2 : 64;
		s->caps = rv_xrealloc(s->caps, *caps_cap * sizeof *s->caps);
	}
	if (manifest_parse(text, len, path, &s->caps[s->n_caps], &pr) == 0)
		s->n_caps++;
	else
		add_problem(s, probs_cap, &pr);
	rv_err_clear();
	free(text);
	free(path);
	return;
bad:
	pr.file = path;
	{
		char *ns = manifest_default_namespace(name);
		pr.ns = capability_namespace_valid(ns) ? ns : (free(ns), NULL);
	}
	add_problem(s, probs_cap, &pr);
}

/* Two manifests with one namespace: neither is synced, both are problems (and the
 * namespace's keys stay as they are). caps is sorted by namespace. */
static void drop_duplicates(struct manifest_set *s, size_t *probs_cap)
{
	size_t w = 0;
	for (size_t i = 0; i < s->n_caps;) {
		size_t j = i + 1;
		while (j < s->n_caps && strcmp(s->caps[j].ns, s->caps[i].ns) == 0)
			j++;
		if (j - i == 1) {
			s->caps[w++] = s->caps[i];
		} else {
			for (size_t k = i; k < j; k++) {
				struct manifest_problem pr = {0};
				const struct capability *other = &s->caps[k == i ? i + 1 : i];
				pr.file = rv_strdup(s->caps[k].file);
				pr.line = 1;
				pr.ns = rv_strdup(s->caps[k].ns);
				if (asprintf(&pr.what, "namespace %s is also the namespace of %s", s->caps[k].ns,
					     other->file) < 0)
					abort();
				add_problem(s, probs_cap, &pr);
			}
			for (size_t k = i; k < j; k++)
				capability_free(&s->caps[k]);
		}
		i = j;
	}
	s->n_caps = w;
}

int manifest_load_dir(const char *dir, struct manifest_set *out)
{
	char **names;
	size_t n, caps_cap = 0, probs_cap = 0;
	memset(out, 0, sizeof *out);
	list_dir(dir, out, &names, &n);
	for (size_t i = 0; i < n; i++) {
		load_one(dir, names[i], out, &caps_cap, &probs_cap);
		free(names[i]);
	}
	free(names);
	if (out->n_caps)
		qsort(out->caps, out->n_caps, sizeof *out->caps, cmp_cap);
	drop_duplicates(out, &probs_cap);
	if (out->n_problems)
		qsort(out->problems, out->n_problems, sizeof *out->problems, cmp_problem);
	return 0;
}
