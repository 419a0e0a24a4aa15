using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Runs an expensive health probe (a call to S3, a write to disk) at most once per <c>ttl</c>, however often the
/// platform asks; concurrent checks share the probe in flight.
/// </summary>
public sealed class CachedHealthProbe(Func<CancellationToken, Task<HealthCheckResult>> probe, TimeSpan ttl, TimeProvider time)
{
    private readonly Lock _lock = new();
    private Task<HealthCheckResult>? _current;
    private DateTimeOffset _startedAt;

    public Task<HealthCheckResult> GetAsync()
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_current is null || (_current.IsCompleted && now - _startedAt >= ttl))
            {
                _startedAt = now;
                _current = RunAsync();
            }
            return _current;
        }
    }

    private async Task<HealthCheckResult> RunAsync()
    {
        // Bounded: a probe that hangs must not hold every readiness check hostage.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), time);
        try
        {
            return await probe(timeout.Token);
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy(ex.Message, ex);
        }
    }
}
