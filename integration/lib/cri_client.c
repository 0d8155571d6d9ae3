/* CRI calls over grpc_client.  See cri_client.h. */
#include "integration/lib/cri_client.h"

#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

#define RUNTIME "/runtime.v1.RuntimeService/"
#define IMAGES "/runtime.v1.ImageService/"

struct cri_client
{
  mp_grpc_client *grpc;
};

cri_client *
cri_client_new (const char *address, int64_t connect_ms, mp_error *err)
{
  cri_client *c = calloc (1, sizeof *c);

  if (c == NULL)
    {
      mp_error_sys (err, ENOMEM, "cri client");
      return NULL;
    }
  c->grpc = mp_grpc_client_new (address, err);
  if (c->grpc == NULL
      || mp_grpc_client_wait_ready (c->grpc, connect_ms, err) != 0)
    {
      mp_error_prefix (err, "connect to %s", address);
      cri_client_free (c);
      return NULL;
    }
  /* Pulls and container starts take seconds; a hung runtime must still
   * end the test. */
  mp_grpc_client_set_timeout_ms (c->grpc, 120000);
  return c;
}

void
cri_client_free (cri_client *c)
{
  if (c == NULL)
    return;
  mp_grpc_client_free (c->grpc);
  free (c);
}

void
cri_client_set_timeout_ms (cri_client *c, int64_t timeout_ms)
{
  mp_grpc_client_set_timeout_ms (c->grpc, timeout_ms);
}

/* strdup that reports ENOMEM through *err; NULL stays NULL. */
static int
dup_str (char **dst, const char *src, mp_error *err)
{
  *dst = NULL;
  if (src == NULL)
    return 0;
  *dst = strdup (src);
  if (*dst == NULL)
    return mp_error_sys (err, ENOMEM, "copy a CRI response");
  return 0;
}

static int
dup_strv (char ***dst, size_t *n_dst, char **src, size_t n, mp_error *err)
{
  *dst = NULL;
  *n_dst = 0;
  if (n == 0)
    return 0;
  *dst = calloc (n, sizeof **dst);
  if (*dst == NULL)
    return mp_error_sys (err, ENOMEM, "copy a CRI response");
  for (size_t i = 0; i < n; i++, (*n_dst)++)
    if (dup_str (&(*dst)[i], src[i], err) < 0)
      return -1;
  return 0;
}

static void
free_strv (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

/* A unary call whose response only matters as OK or not. */
static int
call_void (cri_client *c, const char *method, const ProtobufCMessage *req,
           const ProtobufCMessageDescriptor *resp_desc, mp_error *err)
{
  ProtobufCMessage *resp = NULL;
  int rc = mp_grpc_client_unary (c->grpc, method, req, resp_desc, &resp, err);

  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return rc;
}

/* ---- version ------------------------------------------------------------ */

void
cri_version_info_free (cri_version_info *v)
{
  free (v->runtime_name);
  free (v->runtime_version);
  free (v->runtime_api_version);
  memset (v, 0, sizeof *v);
}

int
cri_version (cri_client *c, cri_version_info *out, mp_error *err)
{
  Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
  Runtime__V1__VersionResponse *resp = NULL;
  int rc;

  /* The kubelet sends its CRI API version; containerd ignores it. */
  req.version = (char *)"v1";
  rc = mp_grpc_client_unary (c->grpc, RUNTIME "Version", &req.base,
                             &runtime__v1__version_response__descriptor,
                             (ProtobufCMessage **)&resp, err);
  if (rc != 0)
    return rc;
  memset (out, 0, sizeof *out);
  if (dup_str (&out->runtime_name, resp->runtime_name, err) < 0
      || dup_str (&out->runtime_version, resp->runtime_version, err) < 0
      || dup_str (&out->runtime_api_version, resp->runtime_api_version, err)
             < 0)
    {
      cri_version_info_free (out);
      rc = -1;
    }
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return rc;
}

/* ---- pod sandboxes ------------------------------------------------------ */

void
cri_pod_config_init (cri_pod_config *pc, const cri_pod_spec *spec)
{
  runtime__v1__pod_sandbox_config__init (&pc->config);
  runtime__v1__pod_sandbox_metadata__init (&pc->metadata);
  runtime__v1__linux_pod_sandbox_config__init (&pc->linux);
  runtime__v1__linux_sandbox_security_context__init (&pc->security);
  runtime__v1__namespace_option__init (&pc->namespaces);

  pc->metadata.name = (char *)spec->name;
  pc->metadata.uid = (char *)spec->uid;
  pc->metadata.namespace_ = (char *)(spec->ns ? spec->ns : "default");
  pc->config.metadata = &pc->metadata;
  if (spec->hostname != NULL)
    pc->config.hostname = (char *)spec->hostname;
  if (spec->log_dir != NULL)
    pc->config.log_directory = (char *)spec->log_dir;

  /* As the kubelet sends it for hostNetwork: true; pid and ipc stay POD
   * (the zero value), as in a default pod. */
  pc->namespaces.network = spec->host_network
                               ? RUNTIME__V1__NAMESPACE_MODE__NODE
                               : RUNTIME__V1__NAMESPACE_MODE__POD;
  pc->security.namespace_options = &pc->namespaces;
  pc->linux.security_context = &pc->security;
  pc->config.linux = &pc->linux;
}

int
cri_run_pod_sandbox (cri_client *c, const cri_pod_config *pc, char **id,
                     mp_error *err)
{
  Runtime__V1__RunPodSandboxRequest req
      = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
  Runtime__V1__RunPodSandboxResponse *resp = NULL;
  int rc;

  req.config = (Runtime__V1__PodSandboxConfig *)&pc->config;
  rc = mp_grpc_client_unary (c->grpc, RUNTIME "RunPodSandbox", &req.base,
                             &runtime__v1__run_pod_sandbox_response__descriptor,
                             (ProtobufCMessage **)&resp, err);
  if (rc != 0)
    return rc;
  if (dup_str (id, resp->pod_sandbox_id, err) < 0)
    rc = -1;
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return rc;
}

int
cri_stop_pod_sandbox (cri_client *c, const char *id, mp_error *err)
{
  Runtime__V1__StopPodSandboxRequest req
      = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;

  req.pod_sandbox_id = (char *)id;
  return call_void (c, RUNTIME "StopPodSandbox", &req.base,
                    &runtime__v1__stop_pod_sandbox_response__descriptor, err);
}

int
cri_remove_pod_sandbox (cri_client *c, const char *id, mp_error *err)
{
  Runtime__V1__RemovePodSandboxRequest req
      = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;

  req.pod_sandbox_id = (char *)id;
  return call_void (c, RUNTIME "RemovePodSandbox", &req.base,
                    &runtime__v1__remove_pod_sandbox_response__descriptor, err);
}

/* ---- containers --------------------------------------------------------- */

static size_t
strv_len (const char *const *v)
{
  size_t n = 0;

  while (v != NULL && v[n] != NULL)
    n++;
  return n;
}

int
cri_create_container (cri_client *c, const char *sandbox_id,
                      const cri_container_spec *spec, const cri_pod_config *pc,
                      char **id, mp_error *err)
{
  Runtime__V1__CreateContainerRequest req
      = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
  Runtime__V1__ContainerConfig config = RUNTIME__V1__CONTAINER_CONFIG__INIT;
  Runtime__V1__ContainerMetadata metadata
      = RUNTIME__V1__CONTAINER_METADATA__INIT;
  Runtime__V1__ImageSpec image = RUNTIME__V1__IMAGE_SPEC__INIT;
  Runtime__V1__CreateContainerResponse *resp = NULL;
  size_t n = spec->n_image_mounts;
  cleanup_free Runtime__V1__Mount *mounts = NULL;
  cleanup_free Runtime__V1__ImageSpec *images = NULL;
  cleanup_free Runtime__V1__Mount **mount_ptrs = NULL;
  int rc;

  if (n > 0)
    {
      mounts = calloc (n, sizeof *mounts);
      images = calloc (n, sizeof *images);
      mount_ptrs = calloc (n, sizeof *mount_ptrs);
      if (mounts == NULL || images == NULL || mount_ptrs == NULL)
        return mp_error_sys (err, ENOMEM, "CreateContainer request");
    }
  for (size_t i = 0; i < n; i++)
    {
      const cri_image_mount *m = &spec->image_mounts[i];

      runtime__v1__image_spec__init (&images[i]);
      images[i].image = (char *)m->image;
      /* The kubelet fills this from the pod spec for image volumes. */
      images[i].user_specified_image = (char *)m->image;
      runtime__v1__mount__init (&mounts[i]);
      mounts[i].container_path = (char *)m->container_path;
      mounts[i].readonly = m->readonly;
      mounts[i].image = &images[i];
      if (m->sub_path != NULL)
        mounts[i].image_sub_path = (char *)m->sub_path;
      mount_ptrs[i] = &mounts[i];
    }

  metadata.name = (char *)spec->name;
  image.image = (char *)spec->image;
  image.user_specified_image = (char *)spec->image;
  config.metadata = &metadata;
  config.image = &image;
  config.n_command = strv_len (spec->command);
  config.command = (char **)spec->command;
  config.n_args = strv_len (spec->args);
  config.args = (char **)spec->args;
  config.n_mounts = n;
  config.mounts = mount_ptrs;
  if (spec->log_path != NULL)
    config.log_path = (char *)spec->log_path;

  req.pod_sandbox_id = (char *)sandbox_id;
  req.config = &config;
  req.sandbox_config = (Runtime__V1__PodSandboxConfig *)&pc->config;
  rc = mp_grpc_client_unary (
      c->grpc, RUNTIME "CreateContainer", &req.base,
      &runtime__v1__create_container_response__descriptor,
      (ProtobufCMessage **)&resp, err);
  if (rc != 0)
    return rc;
  if (dup_str (id, resp->container_id, err) < 0)
    rc = -1;
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return rc;
}

int
cri_start_container (cri_client *c, const char *id, mp_error *err)
{
  Runtime__V1__StartContainerRequest req
      = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;

  req.container_id = (char *)id;
  return call_void (c, RUNTIME "StartContainer", &req.base,
                    &runtime__v1__start_container_response__descriptor, err);
}

int
cri_stop_container (cri_client *c, const char *id, int64_t timeout_s,
                    mp_error *err)
{
  Runtime__V1__StopContainerRequest req
      = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;

  req.container_id = (char *)id;
  req.timeout = timeout_s;
  return call_void (c, RUNTIME "StopContainer", &req.base,
                    &runtime__v1__stop_container_response__descriptor, err);
}

int
cri_remove_container (cri_client *c, const char *id, mp_error *err)
{
  Runtime__V1__RemoveContainerRequest req
      = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;

  req.container_id = (char *)id;
  return call_void (c, RUNTIME "RemoveContainer", &req.base,
                    &runtime__v1__remove_container_response__descriptor, err);
}

void
cri_container_info_free (cri_container_info *info)
{
  free (info->reason);
  free (info->message);
  memset (info, 0, sizeof *info);
}

int
cri_container_status (cri_client *c, const char *id, cri_container_info *out,
                      mp_error *err)
{
  Runtime__V1__ContainerStatusRequest req
      = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
  Runtime__V1__ContainerStatusResponse *resp = NULL;
  int rc;

  req.container_id = (char *)id;
  rc = mp_grpc_client_unary (
      c->grpc, RUNTIME "ContainerStatus", &req.base,
      &runtime__v1__container_status_response__descriptor,
      (ProtobufCMessage **)&resp, err);
  if (rc != 0)
    return rc;
  memset (out, 0, sizeof *out);
  if (resp->status == NULL)
    {
      rc = mp_error_set (err, MP_ERR_INTERNAL,
                         "ContainerStatus of %s: no status in the response",
                         id);
    }
  else
    {
      out->state = resp->status->state;
      out->exit_code = resp->status->exit_code;
      out->created_at_ns = resp->status->created_at;
      out->started_at_ns = resp->status->started_at;
      if (dup_str (&out->reason, resp->status->reason, err) < 0
          || dup_str (&out->message, resp->status->message, err) < 0)
        {
          cri_container_info_free (out);
          rc = -1;
        }
    }
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return rc;
}

const char *
cri_container_state_name (Runtime__V1__ContainerState state)
{
  switch (state)
    {
    case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
      return "CONTAINER_CREATED";
    case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
      return "CONTAINER_RUNNING";
    case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
      return "CONTAINER_EXITED";
    case RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN:
      return "CONTAINER_UNKNOWN";
    default:
      return "unrecognised state";
    }
}

void
cri_exec_result_free (cri_exec_result *r)
{
  free (r->out);
  free (r->err);
  memset (r, 0, sizeof *r);
}

/* A NUL-terminated copy of DATA. */
static int
dup_bytes (char **dst, size_t *len, const ProtobufCBinaryData *data,
           mp_error *err)
{
  *dst = malloc (data->len + 1);
  if (*dst == NULL)
    return mp_error_sys (err, ENOMEM, "copy ExecSync output");
  if (data->len > 0)
    memcpy (*dst, data->data, data->len);
  (*dst)[data->len] = '\0';
  *len = data->len;
  return 0;
}

int
cri_exec_sync (cri_client *c, const char *id, const char *const *argv,
               int64_t timeout_s, cri_exec_result *out, mp_error *err)
{
  Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
  Runtime__V1__ExecSyncResponse *resp = NULL;
  int rc;

  req.container_id = (char *)id;
  req.n_cmd = strv_len (argv);
  req.cmd = (char **)argv;
  req.timeout = timeout_s;
  rc = mp_grpc_client_unary (c->grpc, RUNTIME "ExecSync", &req.base,
                             &runtime__v1__exec_sync_response__descriptor,
                             (ProtobufCMessage **)&resp, err);
  if (rc != 0)
    return rc;
  memset (out, 0, sizeof *out);
  out->exit_code = resp->exit_code;
  if (dup_bytes (&out->out, &out->out_len, &resp->stdout, err) < 0
      || dup_bytes (&out->err, &out->err_len, &resp->stderr, err) < 0)
    {
      cri_exec_result_free (out);
      rc = -1;
    }
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return rc;
}

/* ---- images ------------------------------------------------------------- */

int
cri_pull_image (cri_client *c, const char *image, const cri_pod_config *pc,
                char **image_ref, mp_error *err)
{
  Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
  Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
  Runtime__V1__PullImageResponse *resp = NULL;
  int rc;

  spec.image = (char *)image;
  spec.user_specified_image = (char *)image;
  req.image = &spec;
  if (pc != NULL)
    req.sandbox_config = (Runtime__V1__PodSandboxConfig *)&pc->config;
  rc = mp_grpc_client_unary (c->grpc, IMAGES "PullImage", &req.base,
                             &runtime__v1__pull_image_response__descriptor,
                             (ProtobufCMessage **)&resp, err);
  if (rc != 0)
    return rc;
  if (image_ref != NULL && dup_str (image_ref, resp->image_ref, err) < 0)
    rc = -1;
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return rc;
}

void
cri_image_info_free (cri_image_info *info)
{
  free (info->id);
  free_strv (info->repo_tags, info->n_repo_tags);
  free_strv (info->repo_digests, info->n_repo_digests);
  memset (info, 0, sizeof *info);
}

int
cri_image_status (cri_client *c, const char *image, cri_image_info *out,
                  mp_error *err)
{
  Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
  Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
  Runtime__V1__ImageStatusResponse *resp = NULL;
  const Runtime__V1__Image *img;
  int rc;

  spec.image = (char *)image;
  req.image = &spec;
  rc = mp_grpc_client_unary (c->grpc, IMAGES "ImageStatus", &req.base,
                             &runtime__v1__image_status_response__descriptor,
                             (ProtobufCMessage **)&resp, err);
  if (rc != 0)
    return rc;
  memset (out, 0, sizeof *out);
  img = resp->image;
  /* The CRI answers a missing image with OK and no image. */
  if (img != NULL && img->id != NULL && img->id[0] != '\0')
    {
      out->size = img->size;
      out->pinned = img->pinned;
      if (dup_str (&out->id, img->id, err) < 0
          || dup_strv (&out->repo_tags, &out->n_repo_tags, img->repo_tags,
                       img->n_repo_tags, err)
                 < 0
          || dup_strv (&out->repo_digests, &out->n_repo_digests,
                       img->repo_digests, img->n_repo_digests, err)
                 < 0)
        {
          cri_image_info_free (out);
          rc = -1;
        }
    }
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return rc;
}

int
cri_remove_image (cri_client *c, const char *image, mp_error *err)
{
  Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
  Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;

  spec.image = (char *)image;
  req.image = &spec;
  return call_void (c, IMAGES "RemoveImage", &req.base,
                    &runtime__v1__remove_image_response__descriptor, err);
}
