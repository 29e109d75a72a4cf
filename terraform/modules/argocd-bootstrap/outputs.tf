output "argocd_chart_version" {
  description = "The argo-cd chart version installed (the pin in clusters/<env>/apps/argo-cd.yaml)."
  value       = helm_release.argo_cd.version
}

output "root_application_path" {
  description = "The folder the root Application renders."
  value       = local.root_application.source.path
}
