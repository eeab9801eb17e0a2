variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of the Dataflow jobs and the Cloud Scheduler job, e.g. europe-west1."
  type        = string
}

variable "bucket" {
  description = "Cloud Storage bucket (name only) for the dataset, temp and staging files."
  type        = string
}

variable "create_bucket" {
  description = "Create the bucket (true) or use an existing one (false)."
  type        = bool
  default     = true
}

variable "dataset_prefix" {
  description = "Folder of the dataset inside the bucket: gs://BUCKET/PREFIX/{articles,rejects,_runs,_state}."
  type        = string
  default     = "news"
}

variable "batch_template" {
  description = "gs:// path of the batch Flex Template spec (gcloud dataflow flex-template build ... metadata.json)."
  type        = string
}

variable "stream_template" {
  description = "gs:// path of the streaming Flex Template spec (metadata-stream.json, NEWSBEAM_COMMAND=stream); empty: no streaming job."
  type        = string
  default     = ""
}

variable "image" {
  description = "The newsbeam image (deploy/dataflow/Dockerfile), also used as the workers' SDK container image."
  type        = string
}

variable "feeds_file" {
  description = "gs:// path of the feeds file (one URL a line, or OPML)."
  type        = string
}

variable "schedule" {
  description = "Cron schedule of the batch run (Cloud Scheduler syntax)."
  type        = string
  default     = "15 5 * * *"
}

variable "time_zone" {
  description = "Time zone of the schedule."
  type        = string
  default     = "Etc/UTC"
}

variable "machine_type" {
  description = "Dataflow worker machine type."
  type        = string
  default     = "n2-standard-2"
}

variable "max_workers" {
  description = "Maximum number of Dataflow workers (autoscaling upper bound)."
  type        = number
  default     = 4
}

variable "worker_region" {
  description = "Region of the workers when it differs from var.region (data residency); empty: var.region."
  type        = string
  default     = ""
}

variable "use_public_ips" {
  description = "Give workers public IPs. Without them the subnetwork needs Cloud NAT to reach the feeds."
  type        = bool
  default     = true
}

variable "subnetwork" {
  description = "Subnetwork of the workers (regions/REGION/subnetworks/NAME); empty: the default network."
  type        = string
  default     = ""
}

variable "contact_url" {
  description = "Contact URL appended to the crawler's User-Agent."
  type        = string
  default     = ""
}

variable "stream_poll_interval" {
  description = "Seconds between two polls of each feed in the streaming job."
  type        = number
  default     = 300
}

variable "stream_window" {
  description = "Output window of the streaming job, seconds: files are committed per window."
  type        = number
  default     = 600
}
