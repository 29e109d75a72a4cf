output "node_role_name" {
  description = "Name of the IAM role of Karpenter's nodes, `<cluster>-karpenter-node` (the EC2NodeClass `role`)."
  value       = aws_iam_role.node.name
}

output "node_role_arn" {
  description = "ARN of the IAM role of Karpenter's nodes."
  value       = aws_iam_role.node.arn
}

output "controller_role_name" {
  description = "Name of the IAM role of the Karpenter controller, `<cluster>-karpenter`."
  value       = aws_iam_role.controller.name
}

output "controller_role_arn" {
  description = "ARN of the IAM role of the Karpenter controller, bound to `<namespace>/<service_account>` through Pod Identity."
  value       = aws_iam_role.controller.arn
}

output "queue_name" {
  description = "Name of the interruption queue, `<cluster>-karpenter` (the chart's `settings.interruptionQueue`)."
  value       = aws_sqs_queue.interruption.name
}

output "queue_arn" {
  description = "ARN of the interruption queue."
  value       = aws_sqs_queue.interruption.arn
}

output "event_rule_names" {
  description = "Names of the EventBridge rules that send interruption events to the queue."
  value       = [for r in aws_cloudwatch_event_rule.interruption : r.name]
}
