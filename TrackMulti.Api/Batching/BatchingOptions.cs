using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace TrackMulti.Api.Batching;

/// <summary>When a batch is sealed, and how its key names this instance. Bound from the seed's variable names.</summary>
public sealed class BatchingOptions
{
    /// <summary>Seal the open batch when it holds this many events (the seed's <c>BATCH_SIZE</c>).</summary>
    [ConfigurationKeyName("BATCH_SIZE")]
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>Identifies this replica in object keys; random per process when unset.</summary>
    [ConfigurationKeyName("INSTANCE_ID")]
    [RegularExpression("^[a-z0-9][a-z0-9-]{0,31}$", ErrorMessage = "INSTANCE_ID must be 1-32 characters of a-z, 0-9 and '-'.")]
    public string InstanceId { get; set; } = BatchKey.NewInstanceId();
}
