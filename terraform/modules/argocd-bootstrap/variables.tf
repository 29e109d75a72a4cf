variable "environment" {
  description = "The environment (a folder under clusters/), e.g. dev."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.environment))
    error_message = "environment must be a folder name under clusters/, such as dev."
  }
}

variable "repo_root" {
  description = "Path to the root of this repository, from which the chart pin, values and AppProject are read."
  type        = string
}

variable "argocd_apps_chart_version" {
  description = "Version of the argocd-apps chart that creates the root Application and the bootstrap AppProject."
  type        = string
  # renovate: datasource=helm depName=argocd-apps registryUrl=https://argoproj.github.io/argo-helm
  default = "2.0.2"
}
