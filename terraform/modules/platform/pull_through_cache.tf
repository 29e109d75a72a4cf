# Nodes pull third-party images through the registry account's pull-through cache (cluster.yaml
# registry.pull_through_cache). The first pull of an image creates its cached repository, so the node
# roles may import upstream images and create repositories there, under the cache's prefixes only;
# the registry's own policy must allow it as well (terraform/modules/registry).

locals {
  cached_repository_arns = [
    for prefix in sort(keys(var.cluster.registry.pull_through_cache)) :
    "arn:${data.aws_partition.current.partition}:ecr:${var.cluster.registry.region}:${var.cluster.registry.account_id}:repository/${prefix}/*"
  ]
}

resource "aws_iam_policy" "pull_through_cache" {
  count = length(local.cached_repository_arns) > 0 ? 1 : 0

  name_prefix = "${local.name}-pull-through-cache-"
  description = "Fill the registry's pull-through cache on first pull of an upstream image"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "FillPullThroughCache"
      Effect   = "Allow"
      Action   = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
      Resource = local.cached_repository_arns
    }]
  })

  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "pull_through_cache" {
  for_each = length(local.cached_repository_arns) > 0 ? {
    system    = module.cluster.node_role_name
    karpenter = module.karpenter.node_role_name
  } : {}

  role       = each.value
  policy_arn = aws_iam_policy.pull_through_cache[0].arn
}
