/* Typed calls of the Kubernetes CRI (runtime.v1 RuntimeService and
 * ImageService, our subset in proto/cri/api.proto) for the integration
 * programs: what a kubelet asks containerd's CRI plugin, in plain C structs.
 *
 * A cri_client owns one mp_grpc_client to the runtime's socket (containerd
 * serves the CRI on its main gRPC socket; no namespace metadata: the CRI
 * plugin works in its own "k8s.io" namespace).  Calls are blocking and each
 * has the client's deadline; a client is for one thread.
 *
 * Return values are those of mp_grpc_client: 0 for OK, the gRPC status
 * code (> 0) the call failed with, or -1 for a local failure; *err holds
 * the runtime's message on any non-zero return.  Output strings and structs
 * are filled only on 0 and are then the caller's (free, or the matching
 * _free). */
#ifndef MP_INTEGRATION_CRI_CLIENT_H
#define MP_INTEGRATION_CRI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cri/api.pb-c.h"
#include "plugin/grpc_client.h"
#include "util/error.h"

typedef struct cri_client cri_client;

/* Connect to ADDRESS (a unix socket path) and wait up to CONNECT_MS for it
 * to accept.  Calls then time out after 120 s unless changed. */
cri_client *cri_client_new (const char *address, int64_t connect_ms,
                            mp_error *err);
void cri_client_free (cri_client *c);
void cri_client_set_timeout_ms (cri_client *c, int64_t timeout_ms);

typedef struct cri_version_info
{
  char *runtime_name;        /* "containerd" */
  char *runtime_version;     /* "2.1.9+unknown" */
  char *runtime_api_version; /* "v1" */
} cri_version_info;

void cri_version_info_free (cri_version_info *v);
int cri_version (cri_client *c, cri_version_info *out, mp_error *err);

/* ---- pod sandboxes ---------------------------------------------------- */

/* What a kubelet puts in a PodSandboxConfig, reduced to what the tests
 * vary.  Strings are borrowed. */
typedef struct cri_pod_spec
{
  const char *name;     /* pod name */
  const char *uid;      /* pod UID: unique per pod */
  const char *ns;       /* Kubernetes namespace, e.g. "default" */
  const char *log_dir;  /* absolute; container logs go below it */
  const char *hostname; /* NULL: the runtime's choice */
  bool host_network;    /* NODE network namespace: no CNI involved */
} cri_pod_spec;

/* A PodSandboxConfig built from a cri_pod_spec, with storage for its nested
 * messages: RunPodSandbox, CreateContainer and PullImage all take it.  It
 * borrows the spec's strings and must not be moved once built. */
typedef struct cri_pod_config
{
  Runtime__V1__PodSandboxConfig config;
  Runtime__V1__PodSandboxMetadata metadata;
  Runtime__V1__LinuxPodSandboxConfig linux;
  Runtime__V1__LinuxSandboxSecurityContext security;
  Runtime__V1__NamespaceOption namespaces;
} cri_pod_config;

void cri_pod_config_init (cri_pod_config *pc, const cri_pod_spec *spec);

/* RunPodSandbox with the default runtime handler; *ID is the sandbox ID. */
int cri_run_pod_sandbox (cri_client *c, const cri_pod_config *pc, char **id,
                         mp_error *err);
int cri_stop_pod_sandbox (cri_client *c, const char *id, mp_error *err);
int cri_remove_pod_sandbox (cri_client *c, const char *id, mp_error *err);

/* ---- containers ------------------------------------------------------- */

/* A Mount whose source is an image (Kubernetes image volume): the runtime
 * resolves IMAGE among its pulled images and mounts it at CONTAINER_PATH.
 * The CRI requires image mounts to be read-only; READONLY false is sent as
 * is, to test that. */
typedef struct cri_image_mount
{
  const char *container_path;
  const char *image;
  const char *sub_path; /* NULL or "": the whole image */
  bool readonly;
} cri_image_mount;

typedef struct cri_container_spec
{
  const char *name;
  const char *image;          /* reference or image ID */
  const char *const *command; /* NULL-terminated; NULL: image entrypoint */
  const char *const *args;    /* NULL-terminated; NULL: none */
  const char *log_path;       /* relative to the pod's log_dir; may be NULL */
  const cri_image_mount *image_mounts;
  size_t n_image_mounts;
} cri_container_spec;

int cri_create_container (cri_client *c, const char *sandbox_id,
                          const cri_container_spec *spec,
                          const cri_pod_config *pc, char **id, mp_error *err);
int cri_start_container (cri_client *c, const char *id, mp_error *err);
/* Signal the container to stop, SIGKILL after TIMEOUT_S seconds. */
int cri_stop_container (cri_client *c, const char *id, int64_t timeout_s,
                        mp_error *err);
int cri_remove_container (cri_client *c, const char *id, mp_error *err);

typedef struct cri_container_info
{
  Runtime__V1__ContainerState state;
  int32_t exit_code;
  int64_t created_at_ns; /* since the epoch */
  int64_t started_at_ns; /* 0 until started */
  char *reason;
  char *message;
} cri_container_info;

void cri_container_info_free (cri_container_info *info);
int cri_container_status (cri_client *c, const char *id,
                          cri_container_info *out, mp_error *err);
/* "CONTAINER_RUNNING", ... */
const char *cri_container_state_name (Runtime__V1__ContainerState state);

typedef struct cri_exec_result
{
  int32_t exit_code;
  char *out; /* NUL-terminated (the bytes may hold NULs too) */
  size_t out_len;
  char *err; /* stderr, likewise */
  size_t err_len;
} cri_exec_result;

void cri_exec_result_free (cri_exec_result *r);
/* ExecSync ARGV (NULL-terminated) in the running container, killing it
 * after TIMEOUT_S seconds (0: no limit).  A command that ran and failed is
 * still 0 here: look at OUT->exit_code. */
int cri_exec_sync (cri_client *c, const char *id, const char *const *argv,
                   int64_t timeout_s, cri_exec_result *out, mp_error *err);

/* ---- images ----------------------------------------------------------- */

/* Pull IMAGE (as a kubelet does, with the pod's config when PC is not
 * NULL); *IMAGE_REF (may be NULL) is the image ID the runtime reports. */
int cri_pull_image (cri_client *c, const char *image, const cri_pod_config *pc,
                    char **image_ref, mp_error *err);

typedef struct cri_image_info
{
  char *id; /* NULL: the runtime does not have the image */
  size_t n_repo_tags;
  char **repo_tags;
  size_t n_repo_digests;
  char **repo_digests;
  uint64_t size;
  bool pinned;
} cri_image_info;

void cri_image_info_free (cri_image_info *info);
/* A missing image is 0 with OUT->id NULL, as the CRI reports it. */
int cri_image_status (cri_client *c, const char *image, cri_image_info *out,
                      mp_error *err);
int cri_remove_image (cri_client *c, const char *image, mp_error *err);

#endif
