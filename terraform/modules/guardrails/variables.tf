variable "name" {
  description = "The platform's name prefix (`cluster.name`, or `airflow-registry` for the registry stack): every role Terraform creates is named `<name>-...`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}[a-z0-9]$", var.name))
    error_message = "name must be lower-case letters, digits and hyphens, as cluster.name is."
  }
}

variable "state_bucket" {
  description = "The stack's Terraform state bucket (`<name>-tfstate-<account>`, made by `invoke tf-backend`)."
  type        = string
}

variable "state_key_prefix" {
  description = "The folder of the stack's state objects in the bucket, with its trailing slash: `dev/`, `shared/`."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]+/$", var.state_key_prefix))
    error_message = "state_key_prefix must be one folder name with a trailing slash, such as `dev/`."
  }
}

variable "ci_role_prefix" {
  description = "Name prefix of the GitHub OIDC roles (`<name>-github`): their trust and policies change only through the break-glass role."
  type        = string
}

variable "tags" {
  description = "Tags for the boundary policy."
  type        = map(string)
  default     = {}
}
