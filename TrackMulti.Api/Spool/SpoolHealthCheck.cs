using Microsoft.Extensions.Diagnostics.HealthChecks;
using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Spool;

/// <summary>
/// Liveness: unhealthy once the spool can no longer be trusted (see <see cref="BatchWriter.Fault"/>). Intake is refused
/// then, and only a restart, whose recovery repairs the spool, helps; so the platform should restart the Api.
/// </summary>
public sealed class SpoolHealthCheck(BatchWriter writer) : IHealthCheck
{
    public const string Name = "spool";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(writer.Fault is { } fault
            ? HealthCheckResult.Unhealthy($"The spool stopped taking events: {fault}")
            : HealthCheckResult.Healthy());
}
