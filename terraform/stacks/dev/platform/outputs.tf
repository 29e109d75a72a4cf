output "platform" {
  description = "What the bootstrap layer and the operators need: cluster endpoint and CA, names, roles."
  value       = module.platform
}
