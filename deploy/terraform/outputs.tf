output "dataset" {
  description = "Where the dataset is written."
  value       = local.dataset
}

output "service_account" {
  description = "The service account the jobs run as."
  value       = google_service_account.newsbeam.email
}

output "scheduler_job" {
  description = "The Cloud Scheduler job; run it now with: gcloud scheduler jobs run NAME --location REGION."
  value       = google_cloud_scheduler_job.daily_ingest.name
}

output "stream_job_id" {
  description = "The streaming Dataflow job id, when one is deployed."
  value       = one(google_dataflow_flex_template_job.stream[*].job_id)
}
