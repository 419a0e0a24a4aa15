using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;
using TrackMulti.Api.Spool;

namespace TrackMulti.Api.Batching;

public static class BatchingExtensions
{
    /// <summary>A writer per stream, each owning its open batch. Call after the spool and the sinks: they must stop first.</summary>
    public static IHostApplicationBuilder AddBatching(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<BatchingOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        // The batcher names the objects, so it owns their layout; the S3 sink reads it to list them.
        builder.Services.AddOptions<ObjectLayout>().Bind(builder.Configuration).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ObjectLayout>, ObjectLayoutValidator>();
        foreach (var stream in Streams.All)
        {
            builder.Services.AddKeyedSingleton(stream, (sp, _) => new BatchWriter(
                stream, sp.GetRequiredService<IOptions<BatchingOptions>>(), sp.GetRequiredService<IOptions<ObjectLayout>>(), sp.GetRequiredService<SpoolLog>(),
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<BatchWriter>>()));
            // Not AddHostedService: it adds one hosted service per implementation type, and these share one.
            builder.Services.AddSingleton<IHostedService>(sp => sp.GetRequiredKeyedService<BatchWriter>(stream));
        }
        builder.Services.AddSingleton(sp => new Batches(
            Streams.All.Select(stream => sp.GetRequiredKeyedService<BatchWriter>(stream)), sp.GetRequiredService<IOptions<BatchingOptions>>()));
        return builder;
    }
}
