using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TrackMulti.Api.Spool;

/// <summary>
/// Readiness: the spool folder takes a write (probed at most once per 15 s). A full or read-only disk shows here
/// before events are refused.
/// </summary>
public sealed class SpoolWritableCheck(SpoolDirectory spool, TimeProvider time) : IHealthCheck
{
    public const string Name = "spool-writable";

    private readonly CachedHealthProbe _probe = new(_ =>
    {
        var probe = Path.Combine(spool.Root, ".health-probe");
        File.WriteAllBytes(probe, [1]);
        File.Delete(probe);
        return Task.FromResult(HealthCheckResult.Healthy($"{spool.Root} is writable."));
    }, TimeSpan.FromSeconds(15), time);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        _probe.GetAsync();
}

/// <summary>
/// Liveness: unhealthy once the spool can no longer be trusted (see <see cref="SpoolLog.Fault"/>). Intake is refused
/// then, and only a restart, whose recovery repairs the spool, helps; so the platform should restart the Api.
/// </summary>
public sealed class SpoolHealthCheck(SpoolLog spool) : IHealthCheck
{
    public const string Name = "spool";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(spool.Fault is { } fault
            ? HealthCheckResult.Unhealthy($"The spool stopped taking events: {fault}")
            : HealthCheckResult.Healthy());
}
