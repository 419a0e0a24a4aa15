namespace TrackMulti.Api.Batching;

public static class BatchingExtensions
{
    /// <summary>The writer that owns the open batch. Call after the spool and the sinks: it must stop first.</summary>
    public static IHostApplicationBuilder AddBatching(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<BatchingOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<BatchWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BatchWriter>());
        return builder;
    }
}
