# newsbeam on Google Cloud: a daily batch run of the Flex Template launched by
# Cloud Scheduler, and optionally the streaming pipeline as a long-running
# Dataflow job. See docs/deploy.md.

locals {
  dataset = "gs://${var.bucket}/${var.dataset_prefix}"
  # Launch options shared by both jobs (FlexTemplateRuntimeEnvironment).
  environment = merge(
    {
      tempLocation         = "gs://${var.bucket}/tmp"
      stagingLocation      = "gs://${var.bucket}/staging"
      serviceAccountEmail  = google_service_account.newsbeam.email
      machineType          = var.machine_type
      maxWorkers           = var.max_workers
      sdkContainerImage    = var.image
      ipConfiguration      = var.use_public_ips ? "WORKER_IP_PUBLIC" : "WORKER_IP_PRIVATE"
      additionalUserLabels = { app = "newsbeam" }
    },
    var.worker_region == "" ? {} : { workerRegion = var.worker_region },
    var.subnetwork == "" ? {} : { subnetwork = var.subnetwork },
  )
  parameters = merge(
    { feeds_file = var.feeds_file, output = local.dataset },
    var.contact_url == "" ? {} : { contact_url = var.contact_url },
  )
}

resource "google_project_service" "apis" {
  for_each           = toset(["dataflow.googleapis.com", "cloudscheduler.googleapis.com", "compute.googleapis.com"])
  service            = each.value
  disable_on_destroy = false
}

resource "google_storage_bucket" "data" {
  count                       = var.create_bucket ? 1 : 0
  name                        = var.bucket
  location                    = var.region
  uniform_bucket_level_access = true
  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = ["tmp/", "staging/"]
    }
    action {
      type = "Delete"
    }
  }
}

# One service account: Dataflow workers run as it, and Cloud Scheduler uses it
# to call the Flex Template launch API.
resource "google_service_account" "newsbeam" {
  account_id   = "newsbeam"
  display_name = "newsbeam pipelines"
}

resource "google_project_iam_member" "newsbeam" {
  for_each = toset([
    "roles/dataflow.worker",
    "roles/dataflow.developer",
    "roles/artifactregistry.reader",
    "roles/logging.logWriter",
  ])
  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.newsbeam.email}"
}

resource "google_storage_bucket_iam_member" "newsbeam" {
  bucket     = var.bucket
  role       = "roles/storage.objectAdmin"
  member     = "serviceAccount:${google_service_account.newsbeam.email}"
  depends_on = [google_storage_bucket.data]
}

# Launching a job that runs as the service account needs actAs on it.
resource "google_service_account_iam_member" "act_as_self" {
  service_account_id = google_service_account.newsbeam.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.newsbeam.email}"
}

# The daily batch run: POST projects.locations.flexTemplates.launch.
resource "google_cloud_scheduler_job" "daily_ingest" {
  name             = "newsbeam-daily-ingest"
  description      = "Runs the newsbeam batch Flex Template (newsbeam ingest) once a day."
  schedule         = var.schedule
  time_zone        = var.time_zone
  region           = var.region
  attempt_deadline = "320s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "https://dataflow.googleapis.com/v1b3/projects/${var.project}/locations/${var.region}/flexTemplates:launch"
    headers     = { "Content-Type" = "application/json" }
    body = base64encode(jsonencode({
      launchParameter = {
        jobName              = "newsbeam-ingest"
        containerSpecGcsPath = var.batch_template
        parameters           = local.parameters
        environment          = local.environment
      }
    }))
    oauth_token {
      service_account_email = google_service_account.newsbeam.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_project_service.apis]
}

# The streaming pipeline: one long-running job, drained (not cancelled) when
# Terraform replaces or destroys it, so windows in flight are written.
resource "google_dataflow_flex_template_job" "stream" {
  count                   = var.stream_template == "" ? 0 : 1
  provider                = google
  name                    = "newsbeam-stream"
  region                  = var.region
  container_spec_gcs_path = var.stream_template
  on_delete               = "drain"
  enable_streaming_engine = true
  parameters = merge(local.parameters, {
    poll_interval = tostring(var.stream_poll_interval)
    window        = tostring(var.stream_window)
  })
  temp_location         = local.environment.tempLocation
  staging_location      = local.environment.stagingLocation
  service_account_email = google_service_account.newsbeam.email
  machine_type          = var.machine_type
  max_workers           = var.max_workers
  sdk_container_image   = var.image
  ip_configuration      = local.environment.ipConfiguration
  subnetwork            = var.subnetwork == "" ? null : var.subnetwork
  labels                = { app = "newsbeam" }

  depends_on = [google_project_service.apis, google_storage_bucket_iam_member.newsbeam]
}
